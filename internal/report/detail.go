package report

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/tenantcheck/tenantcheck/internal/model"
)

// writeDetail writes, as plain text, everything a person needs to judge and
// reproduce one result: reason, expected and observed, then each piece of
// evidence with its repro command alone on a line so it can be pasted.
// Every line starts with indent. The table and JUnit renderers share it.
func writeDetail(b *bytes.Buffer, res model.Result, indent string) {
	field := func(name, value string) {
		if value != "" {
			fmt.Fprintf(b, "%s%-9s %s\n", indent, name+":", value)
		}
	}
	field("layer", string(res.Layer))
	field("reason", oneLine(res.Reason))
	field("expected", orUnknown(res.Expected))
	field("observed", orUnknown(res.Observed))
	field("attempts", fmt.Sprintf("%d in %s", res.Attempts, res.Duration))
	shown := Shown(res.Evidence)
	for i, ev := range shown {
		fmt.Fprintf(b, "%sevidence %d/%d: %s\n", indent, i+1, len(shown), orUnknown(ev.Action))
		writeEvidence(b, ev, indent+"  ")
	}
	if held := len(res.Evidence) - len(shown); held > 0 {
		fmt.Fprintf(b, "%s(and the evidence of %d held item(s), in the JSON report)\n", indent, held)
	}
}

// Shown is the evidence a text report prints for a result: every item but
// those that held when the result judges several items.
func Shown(evs []model.Evidence) []model.Evidence {
	var out []model.Evidence
	for _, ev := range evs {
		if ev.Verdict != model.VerdictHeld {
			out = append(out, ev)
		}
	}
	return out
}

// writeEvidence writes one piece of evidence, each line starting with indent.
func writeEvidence(b *bytes.Buffer, ev model.Evidence, indent string) {
	if path := evidencePath(ev); path != "" {
		fmt.Fprintf(b, "%s%s\n", indent, path)
	}
	tries := fmt.Sprintf("%d attempt(s) in %s", ev.Attempts, ev.Duration)
	if ev.Outcome != "" {
		tries = fmt.Sprintf("outcome %s, %s", ev.Outcome, tries)
	}
	fmt.Fprintf(b, "%s%s\n", indent, tries)
	if ev.Raw != "" {
		fmt.Fprintf(b, "%sraw:\n", indent)
		writeIndented(b, ev.Raw, indent+"  ")
	}
	if ev.Repro != "" {
		fmt.Fprintf(b, "%srepro:\n", indent)
		writeIndented(b, ev.Repro, indent+"  ")
	}
}

// evidencePath is "from a -> to b", or the half that is known.
func evidencePath(ev model.Evidence) string {
	var parts []string
	if ev.From != "" {
		parts = append(parts, "from "+ev.From)
	}
	if ev.To != "" {
		parts = append(parts, "to "+ev.To)
	}
	return strings.Join(parts, " -> ")
}

// writeIndented writes text line by line, each prefixed by indent, so a
// multi-line probe answer keeps its shape inside the report.
func writeIndented(b *bytes.Buffer, text, indent string) {
	for line := range strings.SplitSeq(strings.TrimRight(text, "\n"), "\n") {
		fmt.Fprintf(b, "%s%s\n", indent, strings.TrimRight(line, " \t\r"))
	}
}

// oneLine folds a multi-line reason onto one line for field displays.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
