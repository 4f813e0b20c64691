package report

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/tenantcheck/tenantcheck/internal/model"
)

// renderTable writes the plain-text report: run line, layer summary,
// tenant pairs, reachability matrices, findings, skipped checks, timings and the result
// line. It uses ASCII only and no colour, so CI logs and golden files stay
// stable.
func renderTable(b *bytes.Buffer, r *model.Report) error {
	fmt.Fprintf(b, "%s\n\n", runLine(r.Metadata))
	if err := writeLayerTable(b, summaries(r)); err != nil {
		return err
	}
	if err := writeTenantPairs(b, r); err != nil {
		return err
	}
	for i := range r.Matrices {
		if err := writeMatrix(b, &r.Matrices[i]); err != nil {
			return err
		}
	}
	if note := SingleNodeNote(r); note != "" {
		fmt.Fprintf(b, "\n%s\n", note)
	}
	writeWorkloads(b, r.WorkloadPaths)
	writeFindings(b, r.Results)
	writeSkipped(b, r.Results)
	writeTimings(b, r)
	fmt.Fprintf(b, "\n%s\n", ResultLine(r))
	return nil
}

// newTable returns an ASCII table whose headers are printed as given.
func newTable(w io.Writer, align []tw.Align) *tablewriter.Table {
	return tablewriter.NewTable(w,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{Symbols: tw.NewSymbols(tw.StyleASCII)})),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithRowAlignmentConfig(tw.CellAlignment{Global: tw.AlignLeft, PerColumn: align}),
	)
}

// layerColumns are the columns of the layer summary, after the
// multi-tenancy guide's table of layers.
var layerColumns = []string{"LAYER", "PROTECTS AGAINST", "HELD", "BROKEN", "ERROR", "SKIPPED", "VERDICT"}

// layerRows lays the summaries out under layerColumns.
func layerRows(sums []model.LayerSummary) [][]string {
	rows := make([][]string, 0, len(sums))
	for _, s := range sums {
		rows = append(rows, []string{
			string(s.Layer), s.ProtectsAgainst,
			strconv.Itoa(s.Held), strconv.Itoa(s.Broken), strconv.Itoa(s.Errors), strconv.Itoa(s.Skipped),
			string(s.Verdict),
		})
	}
	return rows
}

func writeLayerTable(b *bytes.Buffer, sums []model.LayerSummary) error {
	if len(sums) == 0 {
		b.WriteString("No checks ran.\n")
		return nil
	}
	right := tw.AlignRight
	t := newTable(b, []tw.Align{tw.Skip, tw.Skip, right, right, right, right, tw.Skip})
	t.Header(layerColumns)
	if err := t.Bulk(layerRows(sums)); err != nil {
		return fmt.Errorf("layer table: %w", err)
	}
	if err := t.Render(); err != nil {
		return fmt.Errorf("layer table: %w", err)
	}
	return nil
}

// writeMatrix writes one reachability matrix: the observed grid with
// mismatches marked, the legend, then each mismatch spelled out.
func writeMatrix(b *bytes.Buffer, m *model.Matrix) error {
	fmt.Fprintf(b, "\nReachability %s (rows: from, columns: to)\n", m.Name)
	if err := writeGrid(b, m); err != nil {
		return err
	}
	fmt.Fprintf(b, "%s\n", model.MatrixLegend)
	writeMismatches(b, m.Mismatches(), "  ")
	return nil
}

// MaxGridPeers is the most namespaces a matrix is drawn as a grid for in the
// table and Markdown: a wider grid is unreadable in a terminal, and at a
// thousand tenants drawing it took most of the run's rendering time. The
// mismatches are listed whatever the size; every cell is in the JSON.
const MaxGridPeers = 24

// writeGrid lays out Matrix.Grid as an ASCII table.
func writeGrid(b *bytes.Buffer, m *model.Matrix) error {
	if len(m.Peers) == 0 {
		b.WriteString("(no peers)\n")
		return nil
	}
	if len(m.Peers) > MaxGridPeers {
		fmt.Fprintf(b, "(%d namespaces: the grid is drawn up to %d; every cell is in the JSON report, under matrices)\n", len(m.Peers), MaxGridPeers)
		return nil
	}
	rows := m.Grid()
	t := newTable(b, nil)
	header := append([]string{"FROM \\ TO"}, rows[0][1:]...)
	t.Header(header)
	if err := t.Bulk(rows[1:]); err != nil {
		return fmt.Errorf("matrix %s: %w", m.Name, err)
	}
	if err := t.Render(); err != nil {
		return fmt.Errorf("matrix %s: %w", m.Name, err)
	}
	return nil
}

// writeMismatches lists each cell whose observation differs from the
// expectation, or says there is none.
func writeMismatches(b *bytes.Buffer, cells []model.Cell, indent string) {
	if len(cells) == 0 {
		b.WriteString("Observed matches expected in every probed cell.\n")
		return
	}
	fmt.Fprintf(b, "%d cell(s) differ from expected:\n", len(cells))
	for _, c := range cells {
		fmt.Fprintf(b, "%s%s\n", indent, mismatchLine(c))
	}
}

// mismatchLine reads "a -> b: expected X (Blocked), observed . (Allowed)".
func mismatchLine(c model.Cell) string {
	return fmt.Sprintf("%s -> %s: expected %s, observed %s", c.From, c.To, reachLabel(c.Expected), reachLabel(c.Observed))
}

// writeFindings writes every Broken or Error result in full.
func writeFindings(b *bytes.Buffer, results []model.Result) {
	found := findings(results)
	fmt.Fprintf(b, "\nFindings (%d)\n", len(found))
	if len(found) == 0 {
		b.WriteString("  none: no check is broken or in error\n")
	}
	for i, res := range found {
		fmt.Fprintf(b, "\n%d. %s %s\n", i+1, upper(res.Verdict), checkTitle(res))
		writeDetail(b, res, "   ")
	}
}

// writeSkipped lists skipped checks with their reasons, so a skip is never
// silent.
func writeSkipped(b *bytes.Buffer, results []model.Result) {
	skips := skipped(results)
	if len(skips) == 0 {
		return
	}
	fmt.Fprintf(b, "\nSkipped (%d)\n", len(skips))
	for _, res := range skips {
		fmt.Fprintf(b, "  %s\n    reason: %s\n", checkTitle(res), oneLine(res.Reason))
	}
}

// writeTimings writes the phase timings and the NetworkPolicy enforcement
// latency, when the run recorded them.
func writeTimings(b *bytes.Buffer, r *model.Report) {
	if len(r.Timings) == 0 && r.EnforcementLatency == 0 {
		return
	}
	width := len(latencyLabel)
	for _, p := range r.Timings {
		width = max(width, len(p.Phase))
	}
	b.WriteString("\nTimings\n")
	for _, p := range r.Timings {
		fmt.Fprintf(b, "  %-*s  %s\n", width, p.Phase, p.Duration)
	}
	if r.EnforcementLatency != 0 {
		fmt.Fprintf(b, "  %-*s  %s\n", width, latencyLabel, r.EnforcementLatency)
	}
}

const latencyLabel = "NetworkPolicy enforcement latency"

// upper is the verdict in capitals, as findings are headed ("BROKEN").
func upper(v model.Verdict) string {
	if v == "" {
		return "UNKNOWN"
	}
	return strings.ToUpper(string(v))
}

// SingleNodeNote says, under the matrices of a one-node cluster, that no
// path crossed nodes: what held there is not proven for cross-node traffic.
func SingleNodeNote(r *model.Report) string {
	if len(r.Matrices) == 0 || r.Metadata.Nodes != 1 {
		return ""
	}
	return "Single node: every probe pod ran on one node, so no path crossed nodes."
}
