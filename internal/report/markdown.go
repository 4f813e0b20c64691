package report

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/tenantcheck/tenantcheck/internal/model"
)

// renderMarkdown writes GitHub-flavoured Markdown for a pull request or an
// issue: the conclusion first, then the layer table, the matrices in code
// blocks, and the findings with their repro commands in sh blocks.
func renderMarkdown(b *bytes.Buffer, r *model.Report) error {
	fmt.Fprintf(b, "# tenantcheck report\n\n**%s**\n\n", ResultLine(r))
	writeMarkdownRun(b, r.Metadata)
	writeMarkdownLayers(b, summaries(r))
	writeMarkdownTenantPairs(b, r)
	if len(r.Matrices) > 0 {
		b.WriteString("\n## Reachability\n")
		for i := range r.Matrices {
			if err := writeMarkdownMatrix(b, &r.Matrices[i]); err != nil {
				return err
			}
		}
		if note := SingleNodeNote(r); note != "" {
			fmt.Fprintf(b, "\n%s\n", note)
		}
	}
	writeMarkdownWorkloads(b, r.WorkloadPaths)
	writeMarkdownFindings(b, r.Results)
	writeMarkdownSkipped(b, r.Results)
	writeMarkdownTimings(b, r)
	return nil
}

func writeMarkdownRun(b *bytes.Buffer, m model.Metadata) {
	tenants := "none"
	if len(m.Tenants) > 0 {
		quoted := make([]string, 0, len(m.Tenants))
		for _, t := range m.Tenants {
			quoted = append(quoted, code(t))
		}
		tenants = strings.Join(quoted, ", ")
	}
	fmt.Fprintf(b, "- tenantcheck %s, mode %s\n", code(orUnknown(m.TenantcheckVersion)), code(orUnknown(string(m.Mode))))
	fmt.Fprintf(b, "- cluster %s, %d node(s), CNI %s\n", code(orUnknown(m.ClusterVersion)), m.Nodes, code(orUnknown(m.CNI)))
	fmt.Fprintf(b, "- tenants: %s\n", tenants)
	fmt.Fprintf(b, "- duration %s", runDuration(m))
	if m.SpecDigest != "" {
		fmt.Fprintf(b, ", spec %s", code(m.SpecDigest))
	}
	b.WriteString("\n")
}

func writeMarkdownLayers(b *bytes.Buffer, sums []model.LayerSummary) {
	b.WriteString("\n## Layers\n\n")
	if len(sums) == 0 {
		b.WriteString("No checks ran.\n")
		return
	}
	b.WriteString("| Layer | Protects against | Held | Broken | Error | Skipped | Verdict |\n")
	b.WriteString("| --- | --- | ---: | ---: | ---: | ---: | --- |\n")
	for _, row := range layerRows(sums) {
		verdict := row[len(row)-1]
		if verdict != string(model.VerdictHeld) && verdict != string(model.VerdictSkipped) {
			row[len(row)-1] = "**" + verdict + "**"
		}
		for i := range row {
			row[i] = cell(row[i])
		}
		fmt.Fprintf(b, "| %s |\n", strings.Join(row, " | "))
	}
}

func writeMarkdownMatrix(b *bytes.Buffer, m *model.Matrix) error {
	fmt.Fprintf(b, "\n### %s\n\nRows are sources, columns are targets.\n\n", m.Name)
	var grid bytes.Buffer
	if err := writeGrid(&grid, m); err != nil {
		return err
	}
	grid.WriteString(model.MatrixLegend + "\n")
	writeFenced(b, "text", grid.String())
	cells := m.Mismatches()
	if len(cells) == 0 {
		b.WriteString("\nObserved matches expected in every probed cell.\n")
		return nil
	}
	b.WriteString("\nDifferences from expected:\n\n")
	for _, c := range cells {
		fmt.Fprintf(b, "- %s → %s: expected %s, observed %s\n",
			code(c.From), code(c.To), reachLabel(c.Expected), reachLabel(c.Observed))
	}
	return nil
}

func writeMarkdownFindings(b *bytes.Buffer, results []model.Result) {
	b.WriteString("\n## Findings\n")
	found := findings(results)
	for i, res := range found {
		fmt.Fprintf(b, "\n### %d. %s: %s", i+1, orUnknown(string(res.Verdict)), code(res.CheckID))
		if res.Name != "" {
			fmt.Fprintf(b, " %s", res.Name)
		}
		b.WriteString("\n\n")
		fmt.Fprintf(b, "- **Layer:** %s\n", res.Layer)
		fmt.Fprintf(b, "- **Reason:** %s\n", oneLine(orUnknown(res.Reason)))
		fmt.Fprintf(b, "- **Expected:** %s\n", code(orUnknown(res.Expected)))
		fmt.Fprintf(b, "- **Observed:** %s\n", code(orUnknown(res.Observed)))
		fmt.Fprintf(b, "- **Attempts:** %d in %s\n", res.Attempts, res.Duration)
		shown := Shown(res.Evidence)
		for i, ev := range shown {
			fmt.Fprintf(b, "\n#### Evidence %d/%d: %s\n\n", i+1, len(shown), orUnknown(ev.Action))
			writeMarkdownEvidence(b, ev)
		}
	}
	if len(found) == 0 {
		b.WriteString("\nNo check is broken or in error.\n")
	}
}

func writeMarkdownEvidence(b *bytes.Buffer, ev model.Evidence) {
	if ev.From != "" || ev.To != "" {
		fmt.Fprintf(b, "- %s → %s\n", code(orUnknown(ev.From)), code(orUnknown(ev.To)))
	}
	if ev.Outcome != "" {
		fmt.Fprintf(b, "- outcome %s\n", code(string(ev.Outcome)))
	}
	fmt.Fprintf(b, "- %d attempt(s) in %s\n", ev.Attempts, ev.Duration)
	if ev.Raw != "" {
		b.WriteString("\nRaw:\n\n")
		writeFenced(b, "text", ev.Raw)
	}
	if ev.Repro != "" {
		b.WriteString("\nReproduce:\n\n")
		writeFenced(b, "sh", ev.Repro)
	}
}

func writeMarkdownSkipped(b *bytes.Buffer, results []model.Result) {
	var lines []string
	for _, res := range skipped(results) {
		line := "- " + code(res.CheckID)
		if res.Name != "" {
			line += " " + res.Name
		}
		lines = append(lines, line+" — "+oneLine(res.Reason))
	}
	if len(lines) == 0 {
		return
	}
	fmt.Fprintf(b, "\n## Skipped\n\n%s\n", strings.Join(lines, "\n"))
}

func writeMarkdownTimings(b *bytes.Buffer, r *model.Report) {
	if len(r.Timings) == 0 && r.EnforcementLatency == 0 {
		return
	}
	b.WriteString("\n## Timings\n\n| Phase | Duration |\n| --- | ---: |\n")
	for _, p := range r.Timings {
		fmt.Fprintf(b, "| %s | %s |\n", cell(p.Phase), p.Duration)
	}
	if r.EnforcementLatency != 0 {
		fmt.Fprintf(b, "| %s | %s |\n", latencyLabel, r.EnforcementLatency)
	}
}

// writeFenced writes text in a fenced code block whose fence is longer than
// any run of backticks inside, so the text cannot close it early.
func writeFenced(b *bytes.Buffer, lang, text string) {
	fence := strings.Repeat("`", max(3, longestRun(text, '`')+1))
	fmt.Fprintf(b, "%s%s\n%s\n%s\n", fence, lang, strings.TrimRight(text, "\n"), fence)
}

// code writes s as inline code, widening the delimiter when s holds
// backticks, as CommonMark allows.
func code(s string) string {
	if !strings.Contains(s, "`") {
		return "`" + s + "`"
	}
	fence := strings.Repeat("`", longestRun(s, '`')+1)
	return fence + " " + s + " " + fence
}

// cell makes s safe inside a table cell: one line, pipes escaped.
func cell(s string) string {
	return strings.ReplaceAll(oneLine(s), "|", `\|`)
}

func longestRun(s string, c rune) int {
	longest, run := 0, 0
	for _, r := range s {
		if r == c {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return longest
}
