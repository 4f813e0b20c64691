package report

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/tenantcheck/tenantcheck/internal/model"
)

// Format names an output format of Render.
type Format string

// The output formats. Table is the default.
const (
	Table    Format = "table"
	JSON     Format = "json"
	JUnit    Format = "junit"
	Markdown Format = "markdown"
)

// formatEntry ties a format to the function that renders it.
type formatEntry struct {
	format Format
	render func(*bytes.Buffer, *model.Report) error
}

// renderers lists every format with its renderer, the default first; adding
// a format means adding a file and one entry here.
var renderers = []formatEntry{
	{Table, renderTable},
	{JSON, renderJSON},
	{JUnit, renderJUnit},
	{Markdown, renderMarkdown},
}

// Formats returns the valid formats, the default first.
func Formats() []Format {
	out := make([]Format, 0, len(renderers))
	for _, r := range renderers {
		out = append(out, r.format)
	}
	return out
}

// formatList is the comma-separated list of valid formats used in errors.
func formatList() string {
	names := make([]string, 0, len(renderers))
	for _, f := range Formats() {
		names = append(names, string(f))
	}
	return strings.Join(names, ", ")
}

// ParseFormat reads a format name as given on the command line; it ignores
// case and surrounding space, and an empty name means the default, Table.
func ParseFormat(s string) (Format, error) {
	name := Format(strings.ToLower(strings.TrimSpace(s)))
	if name == "" {
		return Table, nil
	}
	if slices.Contains(Formats(), name) {
		return name, nil
	}
	return "", fmt.Errorf("unknown output format %q (valid formats: %s)", s, formatList())
}

// Render writes r to w in format f; an empty f means Table.
func Render(w io.Writer, r *model.Report, f Format) error {
	if r == nil {
		return errors.New("render report: no report")
	}
	if f == "" {
		f = Table
	}
	i := slices.IndexFunc(renderers, func(e formatEntry) bool { return e.format == f })
	if i < 0 {
		return fmt.Errorf("render report: unknown output format %q (valid formats: %s)", f, formatList())
	}
	var buf bytes.Buffer
	if err := renderers[i].render(&buf, r); err != nil {
		return fmt.Errorf("render %s report: %w", f, err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write %s report: %w", f, err)
	}
	return nil
}

// ResultLine is the one-line conclusion of a report, consistent with
// model.ExitCode: "all layers hold" for 0, the broken layers for 1, and
// "incomplete" with the layers that could not be verified for 2.
func ResultLine(r *model.Report) string {
	if r == nil || len(r.Results) == 0 {
		return "RESULT: incomplete: no checks ran"
	}
	byVerdict := map[model.Verdict][]string{}
	for _, s := range model.Summarize(r.Results) {
		byVerdict[s.Verdict] = append(byVerdict[s.Verdict], string(s.Layer))
	}
	broken, errored := byVerdict[model.VerdictBroken], byVerdict[model.VerdictError]
	skipped := byVerdict[model.VerdictSkipped]
	switch model.ExitCode(r) {
	case model.ExitBroken:
		line := "RESULT: " + countLayers(broken, "broken")
		if len(errored) > 0 {
			line += "; " + countLayers(errored, "incomplete")
		}
		return line
	case model.ExitIncomplete:
		if len(errored) == 0 {
			return "RESULT: nothing verified: every check was skipped"
		}
		return "RESULT: incomplete: " + countLayers(errored, "could not be verified")
	}
	switch {
	case len(skipped) > 0:
		return "RESULT: all layers hold (" + countLayers(skipped, "skipped") + ")"
	}
	return "RESULT: all layers hold"
}

// countLayers reads "2 layer(s) broken: network, rbac".
func countLayers(layers []string, what string) string {
	return fmt.Sprintf("%d layer(s) %s: %s", len(layers), what, strings.Join(layers, ", "))
}

// summaries are the layer summaries the renderers show. They are computed
// from the results, as model.ExitCode does, so the layer table and the
// result line can never disagree, even for a hand-edited report.
func summaries(r *model.Report) []model.LayerSummary {
	return model.Summarize(r.Results)
}

// ordered returns the results in report order (the guide's layer order,
// unknown layers last), keeping the runner's order within a layer.
func ordered(results []model.Result) []model.Result {
	rank := func(l model.Layer) int {
		i := slices.IndexFunc(model.Layers(), func(info model.LayerInfo) bool { return info.Layer == l })
		if i < 0 {
			return len(model.Layers())
		}
		return i
	}
	out := slices.Clone(results)
	slices.SortStableFunc(out, func(a, b model.Result) int { return rank(a.Layer) - rank(b.Layer) })
	return out
}

// findings are the results that need a person's attention: Broken first,
// as model.ExitCode ranks them, then Error and any unknown verdict (shown
// rather than hidden), each group in report order.
func findings(results []model.Result) []model.Result {
	var broken, other []model.Result
	for _, res := range ordered(results) {
		switch res.Verdict {
		case model.VerdictHeld, model.VerdictSkipped:
		case model.VerdictBroken:
			broken = append(broken, res)
		default:
			other = append(other, res)
		}
	}
	return append(broken, other...)
}

// skipped are the Skipped results in report order.
func skipped(results []model.Result) []model.Result {
	var out []model.Result
	for _, res := range ordered(results) {
		if res.Verdict == model.VerdictSkipped {
			out = append(out, res)
		}
	}
	return out
}

// runLine is the header line describing the run and the cluster.
func runLine(m model.Metadata) string {
	tenants := "none"
	if len(m.Tenants) > 0 {
		tenants = strings.Join(m.Tenants, ", ")
	}
	started := "unknown"
	if !m.Start.IsZero() {
		started = m.Start.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	return fmt.Sprintf("tenantcheck %s | %s | mode %s | cluster %s | %d node(s) | CNI %s | tenants %s | duration %s",
		orUnknown(m.TenantcheckVersion), started, orUnknown(string(m.Mode)), orUnknown(m.ClusterVersion),
		m.Nodes, orUnknown(m.CNI), tenants, runDuration(m))
}

// SummaryLines are the --summary form for CI logs: the run's header, then
// one line per layer with its verdict, its counts and, where it did not
// hold, the checks that did not, then the result line.
func SummaryLines(r *model.Report) []string {
	out := []string{runLine(r.Metadata)}
	width := 0
	for _, s := range summaries(r) {
		width = max(width, len(s.Layer))
	}
	for _, s := range summaries(r) {
		line := fmt.Sprintf("%-*s  %-7s  held %d, broken %d, error %d, skipped %d", width, s.Layer, s.Verdict, s.Held, s.Broken, s.Errors, s.Skipped)
		var bad []string
		for _, res := range findings(r.Results) {
			if res.Layer == s.Layer {
				bad = append(bad, fmt.Sprintf("%s %s", res.CheckID, res.Verdict))
			}
		}
		if len(bad) > 0 {
			line += ": " + strings.Join(bad, ", ")
		}
		out = append(out, line)
	}
	return append(out, ResultLine(r))
}

// runDuration is the wall time of the run, or "unknown" when the start or
// end is missing or out of order.
func runDuration(m model.Metadata) string {
	if m.Start.IsZero() || m.End.IsZero() || m.End.Before(m.Start) {
		return "unknown"
	}
	return m.End.Sub(m.Start).Round(time.Millisecond).String()
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// checkTitle is "ID: name", or the ID alone when the check has no name.
func checkTitle(res model.Result) string {
	if res.Name == "" {
		return res.CheckID
	}
	return res.CheckID + ": " + res.Name
}

// reachLabel is a matrix value with its symbol, e.g. "X (Blocked)".
func reachLabel(r model.Reach) string {
	if r == "" {
		return "? (not probed)"
	}
	return fmt.Sprintf("%s (%s)", r.Symbol(), r)
}
