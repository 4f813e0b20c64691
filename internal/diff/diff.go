// Package diff compares two stored reports check by check: what broke since
// (a regression), what was mended, what could no longer be verified, and
// which checks appeared or went away. It answers "which layers still hold
// after the upgrade".
package diff

import (
	"fmt"
	"io"
	"sort"

	"github.com/tenantcheck/tenantcheck/internal/model"
)

// Change is one check whose verdict differs between the two reports.
type Change struct {
	CheckID string        `json:"checkId"`
	Layer   model.Layer   `json:"layer"`
	Before  model.Verdict `json:"before,omitempty"`
	After   model.Verdict `json:"after,omitempty"`
	Reason  string        `json:"reason,omitempty"` // the after report's reason
}

// Diff is the comparison of two reports.
type Diff struct {
	Regressions []Change `json:"regressions"` // now Broken, was not
	Fixes       []Change `json:"fixes"`       // was Broken, now Held
	Degraded    []Change `json:"degraded"`    // now Error or Skipped, was Held
	Other       []Change `json:"other"`       // any other verdict change
	Added       []Change `json:"added"`       // only in the after report
	Gone        []Change `json:"gone"`        // only in the before report
}

// Compare is pure: the same two reports always give the same diff, sorted by check ID.
func Compare(before, after *model.Report) Diff {
	b := index(before)
	a := index(after)
	var d Diff
	for id, ra := range a {
		rb, ok := b[id]
		c := Change{CheckID: id, Layer: ra.Layer, After: ra.Verdict, Reason: ra.Reason}
		switch {
		case !ok:
			d.Added = append(d.Added, c)
			continue
		case rb.Verdict == ra.Verdict:
			continue
		}
		c.Before = rb.Verdict
		switch {
		case ra.Verdict == model.VerdictBroken:
			d.Regressions = append(d.Regressions, c)
		case rb.Verdict == model.VerdictBroken && ra.Verdict == model.VerdictHeld:
			d.Fixes = append(d.Fixes, c)
		case rb.Verdict == model.VerdictHeld:
			d.Degraded = append(d.Degraded, c)
		default:
			d.Other = append(d.Other, c)
		}
	}
	for id, rb := range b {
		if _, ok := a[id]; !ok {
			d.Gone = append(d.Gone, Change{CheckID: id, Layer: rb.Layer, Before: rb.Verdict})
		}
	}
	for _, l := range []*[]Change{&d.Regressions, &d.Fixes, &d.Degraded, &d.Other, &d.Added, &d.Gone} {
		sort.Slice(*l, func(i, j int) bool { return (*l)[i].CheckID < (*l)[j].CheckID })
	}
	return d
}

func index(r *model.Report) map[string]model.Result {
	out := make(map[string]model.Result, len(r.Results))
	for _, res := range r.Results {
		out[res.CheckID] = res
	}
	return out
}

// ExitCode is 1 when anything regressed, else 0.
func (d Diff) ExitCode() int {
	if len(d.Regressions) > 0 {
		return 1
	}
	return 0
}

// Render writes the diff as text a person reads in a CI log.
func (d Diff) Render(w io.Writer) error {
	sections := []struct {
		title string
		list  []Change
	}{
		{"REGRESSIONS (now broken)", d.Regressions}, {"FIXED", d.Fixes}, {"NO LONGER VERIFIED", d.Degraded},
		{"OTHER CHANGES", d.Other}, {"ADDED CHECKS", d.Added}, {"GONE CHECKS", d.Gone},
	}
	for _, s := range sections {
		if len(s.list) == 0 {
			continue
		}
		if _, err := fmt.Fprintf(w, "%s (%d)\n", s.title, len(s.list)); err != nil {
			return err
		}
		for _, c := range s.list {
			line := fmt.Sprintf("  %-48s %s -> %s", c.CheckID, orDash(c.Before), orDash(c.After))
			if c.Reason != "" && c.After != model.VerdictHeld {
				line += "  (" + c.Reason + ")"
			}
			if _, err := fmt.Fprintln(w, line); err != nil {
				return err
			}
		}
	}
	_, err := fmt.Fprintf(w, "RESULT: %d regression(s), %d fix(es), %d no longer verified, %d added, %d gone\n",
		len(d.Regressions), len(d.Fixes), len(d.Degraded), len(d.Added), len(d.Gone))
	return err
}

func orDash(v model.Verdict) string {
	if v == "" {
		return "-"
	}
	return string(v)
}
