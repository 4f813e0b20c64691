package quota

import (
	"fmt"
	"strings"

	"github.com/tenantcheck/tenantcheck/internal/model"
)

// presence collects, per namespace, what an object fails to provide.
type presence struct {
	findings []string
	ev       []model.Evidence
	n        int
}

func (p *presence) add(ns, finding string) {
	p.n++
	raw, v := "present", model.VerdictHeld
	if finding != "" {
		p.findings = append(p.findings, ns+": "+finding)
		raw, v = finding, model.VerdictBroken
	}
	p.ev = append(p.ev, model.Evidence{Action: "read the namespace's objects", To: ns, Raw: raw, Attempts: 1, Verdict: v})
}

func (p *presence) result(c model.Check, what string) model.Result {
	j := model.Held(fmt.Sprintf("all %d tenant namespaces have one", p.n))
	if len(p.findings) > 0 {
		j = model.Broken(strings.Join(p.findings, "; "))
	}
	r := c.Result(j)
	r.Expected, r.Observed, r.Evidence = what+" in every tenant namespace", fmt.Sprintf("%d of %d namespaces lack it", len(p.findings), p.n), p.ev
	return r
}

// attempt is one request and what came of it.
type attempt struct {
	ns        string
	want, got model.APIOutcome
	note      string
	ev        model.Evidence
}

type results struct{ attempts []attempt }

func (r *results) add(a attempt) { r.attempts = append(r.attempts, a) }

// result: Broken if any attempt is, else Error if any is, else Held.
func (r *results) result(c model.Check) model.Result {
	var broken, errs, observed []string
	var ev []model.Evidence
	for _, a := range r.attempts {
		j := model.JudgeAPI(a.want, a.got)
		reason := j.Reason
		if a.note != "" {
			reason = a.note
		}
		who := a.ns
		if a.ev.From != "" {
			who = a.ev.From
		}
		switch j.Verdict {
		case model.VerdictBroken:
			broken = append(broken, fmt.Sprintf("%s %s: %s", who, a.ev.Action, reason))
		case model.VerdictError:
			errs = append(errs, fmt.Sprintf("%s %s: %s", who, a.ev.Action, reason))
		}
		observed = append(observed, string(a.got))
		a.ev.Verdict = j.Verdict
		ev = append(ev, a.ev)
	}
	j := model.Worst(fmt.Sprintf("all %d attempts %s as expected", len(r.attempts), strings.ToLower(string(c.Expected.API))), broken, errs)
	res := c.Result(j)
	res.Expected = fmt.Sprintf("%s on every attempt", c.Expected.API)
	res.Observed = strings.Join(observed, ", ")
	res.Evidence, res.Attempts = ev, len(r.attempts)
	return res
}

// resultOrSkip is result, or Skipped with why when nothing was attempted.
func (r *results) resultOrSkip(c model.Check, why string) model.Result {
	if len(r.attempts) == 0 {
		return c.Result(model.Skipped(why))
	}
	return r.result(c)
}
