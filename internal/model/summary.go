package model

import (
	"slices"
)

// LayerSummary counts the verdicts of one layer's checks and rolls them up
// into the layer's own verdict.
type LayerSummary struct {
	Layer           Layer   `json:"layer"`
	ProtectsAgainst string  `json:"protectsAgainst"`
	Held            int     `json:"held"`
	Broken          int     `json:"broken"`
	Errors          int     `json:"errors"`
	Skipped         int     `json:"skipped"`
	Verdict         Verdict `json:"verdict"`
}

// Summarize groups results by layer, in report order (the guide's table),
// and gives each layer a verdict:
//
//   - Broken if any check is Broken,
//   - else Error if any check is Error,
//   - else Held if at least one check Held,
//   - else Skipped (every check was skipped).
//
// Layers without results do not appear.
func Summarize(results []Result) []LayerSummary {
	byLayer := map[Layer]*LayerSummary{}
	var order []Layer
	for _, r := range results {
		s, ok := byLayer[r.Layer]
		if !ok {
			info, _ := InfoFor(r.Layer)
			s = &LayerSummary{Layer: r.Layer, ProtectsAgainst: info.ProtectsAgainst}
			byLayer[r.Layer] = s
			order = append(order, r.Layer)
		}
		s.count(r.Verdict)
	}
	slices.SortStableFunc(order, func(a, b Layer) int { return a.order() - b.order() })
	out := make([]LayerSummary, 0, len(order))
	for _, l := range order {
		s := byLayer[l]
		s.Verdict = s.rollUp()
		out = append(out, *s)
	}
	return out
}

func (s *LayerSummary) count(v Verdict) {
	switch v {
	case VerdictHeld:
		s.Held++
	case VerdictBroken:
		s.Broken++
	case VerdictSkipped:
		s.Skipped++
	default:
		// An unknown verdict is counted as an error: it proves nothing.
		s.Errors++
	}
}

func (s *LayerSummary) rollUp() Verdict {
	switch {
	case s.Broken > 0:
		return VerdictBroken
	case s.Errors > 0:
		return VerdictError
	case s.Held > 0:
		return VerdictHeld
	}
	return VerdictSkipped
}

// Exit codes of a tenantcheck run.
const (
	// ExitHeld: every layer held (or was skipped).
	ExitHeld = 0
	// ExitBroken: at least one check found isolation broken.
	ExitBroken = 1
	// ExitIncomplete: the run could not be done, or not all of it: no check
	// was broken but some could not produce an answer, or nothing at all was
	// verified (every check skipped). The CLI also uses it when it cannot
	// build a report at all.
	ExitIncomplete = 2
	// ExitLocked: another run holds the lock (--lock); this one did not run.
	ExitLocked = 3
)

// ExitCode maps a report to the process exit code. Broken wins over Error
// because a single proven hole is the most important thing to signal; an
// Error without any Broken means the run could not establish that the
// layers hold, which is "could not be done" (2), not success. A report
// without results, or whose checks were all skipped, verified nothing and
// also returns 2: "nothing to check" must never read as "all holds".
func ExitCode(r *Report) int {
	if r == nil || len(r.Results) == 0 {
		return ExitIncomplete
	}
	var held, errs bool
	for _, s := range Summarize(r.Results) {
		switch s.Verdict {
		case VerdictBroken:
			return ExitBroken
		case VerdictError:
			errs = true
		case VerdictHeld:
			held = true
		}
	}
	if held && !errs {
		return ExitHeld
	}
	return ExitIncomplete
}
