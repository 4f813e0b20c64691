package rbac

import (
	"fmt"
	"strings"
	"time"

	"github.com/tenantcheck/tenantcheck/internal/model"
)

// ReasonControlFailed starts the reason of an attempt whose Forbidden
// cannot be trusted because the same identity failed its positive control.
const ReasonControlFailed = "positive control failed"

// judgeAll judges every check's attempts; it is pure.
func judgeAll(checks, controls []Check, attempts map[string][]attempt) []model.Result {
	failed := controlFailures(controls, attempts)
	out := make([]model.Result, 0, len(checks))
	for _, c := range checks {
		out = append(out, judgeCheck(c, attempts[c.ID], failed))
	}
	return out
}

// controlFailures maps each identity ("ns/sa") whose positive control did
// not hold to the first reason it did not.
func controlFailures(controls []Check, attempts map[string][]attempt) map[string]string {
	failed := map[string]string{}
	for _, c := range controls {
		for _, a := range attempts[c.ID] {
			j := judgeAttempt(c.Expected.API, a, nil)
			if _, seen := failed[a.from.String()]; !seen && j.Verdict != model.VerdictHeld {
				failed[a.from.String()] = fmt.Sprintf("%s (%s): %s", c.ID, a.req.Action, j.Reason)
			}
		}
	}
	return failed
}

// judgeAttempt compares one attempt with the expectation. A request that
// was refused (Forbidden or Rejected) only counts when the identity passed
// its positive control; an admission needs no control, it is its own proof.
func judgeAttempt(want model.APIOutcome, a attempt, failed map[string]string) model.Judgement {
	if a.notSent != "" {
		return model.Errored(a.notSent)
	}
	if a.covered != "" {
		// The review is the authoriser's own answer for this identity in
		// this namespace; like a refusal it needs the identity's control.
		if reason, ok := failed[a.from.String()]; ok {
			return model.Errored(ReasonControlFailed + ": " + reason)
		}
		return model.Held("not sent: " + a.covered)
	}
	j := model.JudgeAPI(want, a.observed)
	if reason, ok := failed[a.from.String()]; ok && j.Verdict == model.VerdictHeld && a.observed != model.APIAdmitted {
		return model.Errored(ReasonControlFailed + ": " + reason)
	}
	return j
}

// judgeCheck aggregates a check's attempts over tenants and identities:
// Broken if any attempt is, else Error if any is, else Held.
func judgeCheck(c Check, attempts []attempt, failed map[string]string) model.Result {
	switch {
	case len(attempts) == 0 && c.Only != "":
		return c.Result(model.Skipped("no tenant namespace has a bound " + c.Only + " account to try it with"))
	case len(attempts) == 0:
		return c.Result(model.Skipped("no identity to try it with: it needs at least two tenants with a namespace"))
	}
	byVerdict := map[model.Verdict][]string{}
	counts := map[model.APIOutcome]int{}
	r := c.Result(model.Judgement{})
	var total time.Duration
	covered := 0
	for _, a := range attempts {
		j := judgeAttempt(c.Expected.API, a, failed)
		line := fmt.Sprintf("%s: %s: %s", a.from, a.req.Action, j.Reason)
		byVerdict[j.Verdict] = append(byVerdict[j.Verdict], line)
		ev := evidence(a)
		ev.Verdict = j.Verdict
		r.Evidence = append(r.Evidence, ev)
		switch {
		case a.covered != "":
			covered++
		case a.notSent == "":
			counts[a.observed]++
			r.Attempts++
		}
		total += a.duration
	}
	switch {
	case len(byVerdict[model.VerdictBroken]) > 0:
		r.Judgement = model.Broken(strings.Join(byVerdict[model.VerdictBroken], "; "))
	case len(byVerdict[model.VerdictError]) > 0:
		r.Judgement = model.Errored(strings.Join(byVerdict[model.VerdictError], "; "))
	case covered > 0:
		r.Judgement = model.Held(fmt.Sprintf("%s as expected in all %d attempts sent; %d more not sent, their identity's rules review in that namespace listing no grant (rules first above %d tenants: the real requests go to each tenant's two neighbours and wherever a review lists a grant)",
			strings.ToLower(string(c.Expected.API)), r.Attempts, covered, RulesFirstAbove))
	default:
		r.Judgement = model.Held(fmt.Sprintf("%s as expected in all %d attempts",
			strings.ToLower(string(c.Expected.API)), len(attempts)))
	}
	r.Observed = observedText(counts, len(attempts)-r.Attempts-covered, covered)
	r.Duration = model.Millis(total)
	return r
}

func evidence(a attempt) model.Evidence {
	ev := model.Evidence{Action: a.req.Action, From: a.from.String(), To: a.req.To, Raw: a.raw,
		Attempts: 1, Duration: model.Millis(a.duration), Repro: a.repro}
	if a.notSent != "" {
		ev.Raw, ev.Attempts = "not sent: "+a.notSent, 0
	}
	if a.covered != "" {
		ev.Raw, ev.Attempts = "not sent: "+a.covered, 0
	}
	return ev
}

// observedText counts what came back, e.g. "Forbidden x3, Admitted x1",
// then what was not sent.
func observedText(counts map[model.APIOutcome]int, notSent, covered int) string {
	var parts []string
	for _, o := range []model.APIOutcome{model.APIForbidden, model.APIAdmitted, model.APIRejected, model.APIError} {
		if n := counts[o]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s x%d", o, n))
		}
	}
	if notSent > 0 {
		parts = append(parts, fmt.Sprintf("not sent x%d", notSent))
	}
	if covered > 0 {
		parts = append(parts, fmt.Sprintf("covered by rules review x%d", covered))
	}
	return strings.Join(parts, ", ")
}
