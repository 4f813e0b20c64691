// Package policyreport turns a tenantcheck report into the cluster objects
// Policy Reporter and its kin read: one namespaced report per audited tenant
// namespace and one cluster report, in the OpenReports API
// (openreports.io/v1alpha1 Report, ClusterReport) or the wg-policy API it
// replaces (wgpolicyk8s.io/v1alpha2 PolicyReport, ClusterPolicyReport).
// Both carry the same result fields; Build makes them once, API.Object
// shapes them for one API.
//
// A check becomes one result per pair it was tried on: its evidence grouped
// by the namespace it came from and the one it went to. The result lands in
// the report of the tenant namespace it went to, else the one it came from
// (a tenant's identity listing nodes is that tenant's concern), else in the
// cluster report. Every result's verdict is its own evidence's worst, so a
// pair that held is never painted with another pair's failure; and when a
// check's verdict is worse than all its pairs' (an Error that no attempt
// carries), the check gets one more result in the cluster report with its
// own verdict and reason: no check ever reads better here than in the JSON.
package policyreport

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/tenantcheck/tenantcheck/internal/model"
)

// Source is the reports' and their results' source.
const Source = "tenantcheck"

// Result is one result, with the field names both APIs share.
type Result struct {
	Source     string            `json:"source"`
	Policy     string            `json:"policy"`
	Rule       string            `json:"rule,omitempty"`
	Category   string            `json:"category,omitempty"`
	Severity   string            `json:"severity,omitempty"`
	Timestamp  Timestamp         `json:"timestamp"`
	Result     string            `json:"result"`
	Scored     bool              `json:"scored"`
	Resources  []ObjectRef       `json:"resources,omitempty"`
	Message    string            `json:"message,omitempty"`
	Properties map[string]string `json:"properties,omitempty"`
}

// Timestamp is metav1.Timestamp's shape: seconds and nanos since the epoch.
type Timestamp struct {
	Seconds int64 `json:"seconds"`
	Nanos   int32 `json:"nanos"`
}

// ObjectRef is the part of corev1.ObjectReference the reports use.
type ObjectRef struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
}

// Summary counts results by outcome.
type Summary struct {
	Pass  int `json:"pass"`
	Fail  int `json:"fail"`
	Warn  int `json:"warn"`
	Error int `json:"error"`
	Skip  int `json:"skip"`
}

// Doc is one report's content: Namespace "" is the cluster report.
type Doc struct {
	Namespace string
	Results   []Result
	Summary   Summary
}

// Properties' keys.
const (
	PropResultID = "resultID" // stable over runs: check, from and to
	PropCheck    = "check"    // the check's name
	PropFrom     = "from"
	PropTo       = "to"
	PropAttempts = "attempts" // evidence items behind this result
	PropEvidence = "evidence" // what the attempts saw, counted
	PropRepro    = "repro"    // a command that repeats the telling attempt
	PropExpected = "expected"
	PropRunID    = "runID"
)

// Outcome maps a verdict to a report result; Error is error, never pass.
func Outcome(v model.Verdict) string {
	switch v {
	case model.VerdictHeld:
		return "pass"
	case model.VerdictBroken:
		return "fail"
	case model.VerdictSkipped:
		return "skip"
	}
	return "error"
}

// Build makes the cluster report (first, Namespace "") and one report per
// tenant namespace, in tenantNamespaces' order, each even when empty, so
// that every audited namespace shows it was audited.
func Build(rep *model.Report, tenantNamespaces []string) []Doc {
	docs := []Doc{{}}
	at := map[string]int{}
	for _, ns := range tenantNamespaces {
		if _, dup := at[ns]; !dup {
			at[ns] = len(docs)
			docs = append(docs, Doc{Namespace: ns})
		}
	}
	ts := Timestamp{Seconds: rep.Metadata.End.Unix(), Nanos: int32(rep.Metadata.End.Nanosecond())}
	for i, pairs := range Split(rep, tenantNamespaces) {
		for _, g := range pairs {
			r := g.result(rep.Results[i], ts, rep.Metadata.RunID, len(pairs) == 1)
			d := &docs[0]
			if g.Home != "" {
				d = &docs[at[g.Home]]
			}
			d.Results = append(d.Results, r)
		}
	}
	for i := range docs {
		docs[i].Summary = summarize(docs[i].Results)
	}
	return docs
}

// Pair is one check's evidence on one pair of namespaces.
type Pair struct {
	From, To string // namespaces where the evidence names one, else its text
	Home     string // the tenant namespace whose report holds it; "" cluster
	Verdict  model.Verdict
	Evidence []model.Evidence
	// Whole: the check's own verdict and reason, carried by no evidence
	// (a skipped check, or an Error worse than every attempt's verdict).
	Whole bool
}

// Split is every check of rep by pair, check by check in the report's
// order; metrics label their series with the same pairs.
func Split(rep *model.Report, tenantNamespaces []string) [][]*Pair {
	tenant := map[string]int{}
	for i, ns := range tenantNamespaces {
		tenant[ns] = i
	}
	out := make([][]*Pair, len(rep.Results))
	for i, res := range rep.Results {
		out[i] = split(res, tenant)
	}
	return out
}

// split groups a result's evidence by pair, in first-seen order.
func split(res model.Result, tenant map[string]int) []*Pair {
	var out []*Pair
	byKey := map[[2]string]*Pair{}
	worst := model.VerdictSkipped
	for _, e := range res.Evidence {
		from, to := namespaceOf(e.From), namespaceOf(e.To)
		k := [2]string{from, to}
		g := byKey[k]
		if g == nil {
			g = &Pair{From: from, To: to, Verdict: model.VerdictSkipped}
			switch {
			case isTenant(to, tenant):
				g.Home = to
			case isTenant(from, tenant):
				g.Home = from
			}
			byKey[k] = g
			out = append(out, g)
		}
		v := e.Verdict
		if v == "" {
			// Evidence of a layer that judges the check as a whole: it
			// shares the check's verdict.
			v = res.Verdict
		}
		if model.Worse(v, g.Verdict) {
			g.Verdict = v
		}
		if model.Worse(v, worst) {
			worst = v
		}
		g.Evidence = append(g.Evidence, e)
	}
	if len(out) == 0 || model.Worse(res.Verdict, worst) {
		out = append(out, &Pair{Verdict: res.Verdict, Whole: true})
	}
	return out
}

// namespaceOf is the namespace an evidence end names: "ns/name" (a pod or
// a service account), "system:serviceaccount:ns:name" or a bare namespace;
// anything else ("cluster", "kube-dns", an address) is kept as written.
func namespaceOf(s string) string {
	if rest, ok := strings.CutPrefix(s, "system:serviceaccount:"); ok {
		ns, _, _ := strings.Cut(rest, ":")
		return ns
	}
	if ns, _, ok := strings.Cut(s, "/"); ok && ns != "" {
		return ns
	}
	return s
}

func isTenant(ns string, tenant map[string]int) bool {
	_, ok := tenant[ns]
	return ns != "" && ok
}

func (g *Pair) result(res model.Result, ts Timestamp, runID string, single bool) Result {
	r := Result{
		Source:    Source,
		Policy:    string(res.Layer),
		Rule:      res.CheckID,
		Category:  "Multi-Tenancy",
		Severity:  Severity(res),
		Timestamp: ts,
		Result:    Outcome(g.Verdict),
		Scored:    true,
		Properties: map[string]string{
			PropResultID: ResultID(res.CheckID, g.From, g.To),
			PropCheck:    res.Name,
			PropExpected: res.Expected,
			PropAttempts: fmt.Sprint(len(g.Evidence)),
		},
	}
	if runID != "" {
		r.Properties[PropRunID] = runID
	}
	if g.Home != "" {
		r.Resources = []ObjectRef{{APIVersion: "v1", Kind: "Namespace", Name: g.Home}}
	}
	if g.From != "" {
		r.Properties[PropFrom] = g.From
	}
	if g.To != "" {
		r.Properties[PropTo] = g.To
	}
	if g.Whole {
		r.Message = res.Reason
		if r.Message == "" {
			r.Message = strings.ToLower(string(res.Verdict))
		}
		return r
	}
	r.Properties[PropEvidence] = tally(g.Evidence, res.Verdict)
	if e, ok := telling(g.Evidence, g.Verdict, res.Verdict); ok && e.Repro != "" {
		r.Properties[PropRepro] = e.Repro
	}
	r.Message = g.message(res, single)
	return r
}

// message: the check's reason when the check has this one pair or was
// skipped, else what the pair's attempts with its verdict saw.
func (g *Pair) message(res model.Result, single bool) string {
	if (single || g.Verdict == model.VerdictSkipped) && g.Verdict == res.Verdict && res.Reason != "" {
		return res.Reason
	}
	var lines []string
	seen := map[string]bool{}
	for _, e := range g.Evidence {
		v := e.Verdict
		if v == "" {
			v = res.Verdict
		}
		if v != g.Verdict {
			continue
		}
		line := e.Action
		if e.Raw != "" {
			line += ": " + e.Raw
		}
		if !seen[line] {
			seen[line] = true
			lines = append(lines, line)
		}
	}
	head := fmt.Sprintf("%s on %d of %d attempt(s) from %s to %s", g.Verdict, countOf(g.Evidence, g.Verdict, res.Verdict), len(g.Evidence), orDash(g.From), orDash(g.To))
	if len(lines) > 3 {
		lines = append(lines[:3], fmt.Sprintf("and %d more", len(lines)-3))
	}
	return head + ": " + strings.Join(lines, "; ")
}

func countOf(ev []model.Evidence, v, fallback model.Verdict) int {
	n := 0
	for _, e := range ev {
		ev := e.Verdict
		if ev == "" {
			ev = fallback
		}
		if ev == v {
			n++
		}
	}
	return n
}

// telling is the first attempt with the pair's verdict.
func telling(ev []model.Evidence, v, fallback model.Verdict) (model.Evidence, bool) {
	for _, e := range ev {
		if e.Verdict == v || e.Verdict == "" && fallback == v {
			return e, true
		}
	}
	return model.Evidence{}, false
}

// tally says what the pair's attempts saw, e.g. "Held x3, Broken x1".
func tally(ev []model.Evidence, fallback model.Verdict) string {
	n := map[model.Verdict]int{}
	for _, e := range ev {
		v := e.Verdict
		if v == "" {
			v = fallback
		}
		n[v]++
	}
	var parts []string
	for _, v := range []model.Verdict{model.VerdictBroken, model.VerdictError, model.VerdictHeld, model.VerdictSkipped} {
		if n[v] > 0 {
			parts = append(parts, fmt.Sprintf("%s x%d", v, n[v]))
		}
	}
	return strings.Join(parts, ", ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// ResultID is a result's stable identity: the same check on the same pair
// gets the same ID in every run, so a consumer can follow it over time.
func ResultID(check, from, to string) string {
	sum := sha256.Sum256([]byte(check + "\x00" + from + "\x00" + to))
	return hex.EncodeToString(sum[:8])
}

func summarize(rs []Result) Summary {
	var s Summary
	for _, r := range rs {
		switch r.Result {
		case "pass":
			s.Pass++
		case "fail":
			s.Fail++
		case "warn":
			s.Warn++
		case "skip":
			s.Skip++
		default:
			s.Error++
		}
	}
	return s
}

// Severity is a check's criticality: a tenant reaching into another
// tenant's API objects or the node is critical, a cross-tenant network path
// or a Pod Security hole high, quota and namespace hygiene medium, and the
// positive controls (paths and requests that must work) low.
func Severity(res model.Result) string {
	id := res.CheckID
	switch res.Expected {
	case string(model.ReachAllowed), string(model.APIAdmitted):
		return "low"
	}
	switch {
	case strings.HasPrefix(id, "rbac/cross-tenant-"), id == "rbac/bind-cluster-admin", id == "rbac/impersonate",
		strings.HasPrefix(id, "rbac/create-cluster"), id == "podsecurity/privileged", id == "podsecurity/privileged-workload-blocked",
		strings.HasPrefix(id, "podsecurity/host-"), id == "flux/impersonation-confines-reconciler",
		id == "flux/cross-namespace-sourceref-blocked":
		return "critical"
	}
	switch res.Layer {
	case model.LayerQuota, model.LayerNamespace:
		return "medium"
	}
	return "high"
}

// Verify checks docs against the report they were built from, one to one:
// every check has results whose evidence counts add up to its own and whose
// worst outcome is its verdict's, and no result ID repeats. The CLI runs it
// before writing anything; the tests run it on what the cluster holds.
func Verify(rep *model.Report, docs []Doc) error {
	type seen struct {
		attempts int
		worst    string
		n        int
	}
	rank := map[string]int{"skip": 0, "pass": 1, "error": 2, "fail": 3}
	byRule := map[string]*seen{}
	ids := map[string]bool{}
	var errs []error
	for _, d := range docs {
		if got := summarize(d.Results); got != d.Summary {
			errs = append(errs, fmt.Errorf("report %q: summary %+v, results count %+v", d.Namespace, d.Summary, got))
		}
		for _, r := range d.Results {
			id := d.Namespace + "/" + r.Properties[PropResultID]
			if ids[id] {
				errs = append(errs, fmt.Errorf("result ID %s repeats", id))
			}
			ids[id] = true
			s := byRule[r.Rule]
			if s == nil {
				s = &seen{worst: "skip"}
				byRule[r.Rule] = s
			}
			var n int
			fmt.Sscan(r.Properties[PropAttempts], &n)
			s.attempts += n
			s.n++
			if rank[r.Result] > rank[s.worst] {
				s.worst = r.Result
			}
		}
	}
	for _, res := range rep.Results {
		s := byRule[res.CheckID]
		switch {
		case s == nil:
			errs = append(errs, fmt.Errorf("%s: no result", res.CheckID))
		case s.attempts != len(res.Evidence):
			errs = append(errs, fmt.Errorf("%s: %d evidence item(s) in the results, %d in the report", res.CheckID, s.attempts, len(res.Evidence)))
		case s.worst != Outcome(res.Verdict):
			errs = append(errs, fmt.Errorf("%s: worst result %s, the report's verdict %s", res.CheckID, s.worst, res.Verdict))
		}
		delete(byRule, res.CheckID)
	}
	for rule := range byRule {
		errs = append(errs, fmt.Errorf("%s: results for a check the report does not have", rule))
	}
	return errors.Join(errs...)
}
