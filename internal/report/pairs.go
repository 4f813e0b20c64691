package report

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/tenantcheck/tenantcheck/internal/model"
)

// pairGrid is the report's tenant x tenant summary laid out: one row per
// source tenant, one column per target, and in each cell one symbol per
// layer that tries tenant pairs (in layers' order).
type pairGrid struct {
	tenants []string
	layers  []model.Layer
	rows    [][]string // rows[i][j]: from tenants[i] to tenants[j]
	// notHeld are the pairs whose verdict is not Held, one line each.
	notHeld []string
}

// pairSymbol is a verdict's symbol in the grid, after the matrices' legend.
func pairSymbol(v model.Verdict) string {
	switch v {
	case model.VerdictHeld:
		return "."
	case model.VerdictBroken:
		return "X"
	case model.VerdictError:
		return "!"
	}
	return "-"
}

func newPairGrid(r *model.Report) *pairGrid {
	if len(r.TenantPairs) == 0 {
		return nil
	}
	g := &pairGrid{tenants: slices.Clone(r.Metadata.Tenants)}
	at := map[string]model.PairVerdict{}
	for _, p := range r.TenantPairs {
		if !slices.Contains(g.layers, p.Layer) {
			g.layers = append(g.layers, p.Layer)
		}
		for _, t := range []string{p.From, p.To} {
			if !slices.Contains(g.tenants, t) {
				g.tenants = append(g.tenants, t)
			}
		}
		at[p.From+"\x00"+p.To+"\x00"+string(p.Layer)] = p
		if p.Verdict != model.VerdictHeld {
			g.notHeld = append(g.notHeld, fmt.Sprintf("%s -> %s: %s %s (%d tried)", p.From, p.To, p.Layer, p.Verdict, p.Tried))
		}
	}
	for _, from := range g.tenants {
		row := make([]string, len(g.tenants))
		for j, to := range g.tenants {
			if from == to {
				continue
			}
			var cell strings.Builder
			for _, l := range g.layers {
				p, ok := at[from+"\x00"+to+"\x00"+string(l)]
				if !ok {
					cell.WriteString("-")
					continue
				}
				cell.WriteString(pairSymbol(p.Verdict))
			}
			row[j] = cell.String()
		}
		g.rows = append(g.rows, row)
	}
	return g
}

func (g *pairGrid) legend() string {
	var names []string
	for _, l := range g.layers {
		names = append(names, string(l))
	}
	return "one symbol per layer (" + strings.Join(names, ", ") + "): . held   X broken   ! error   - not tried between these two"
}

// writeTenantPairs writes the tenant x tenant summary: the grid up to
// MaxGridPeers tenants, then every pair that did not hold.
func writeTenantPairs(b *bytes.Buffer, r *model.Report) error {
	g := newPairGrid(r)
	if g == nil {
		return nil
	}
	fmt.Fprintf(b, "\nTenant pairs (rows: from, columns: to)\n")
	if len(g.tenants) > MaxGridPeers {
		fmt.Fprintf(b, "(%d tenants: the grid is drawn up to %d; every pair is in the JSON report, under tenantPairs)\n", len(g.tenants), MaxGridPeers)
	} else {
		t := newTable(b, nil)
		header := []string{"FROM \\ TO"}
		for j := range g.tenants {
			header = append(header, fmt.Sprint(j))
		}
		t.Header(header)
		for i, from := range g.tenants {
			if err := t.Append(append([]string{fmt.Sprintf("%d %s", i, from)}, g.rows[i]...)); err != nil {
				return fmt.Errorf("tenant pairs: %w", err)
			}
		}
		if err := t.Render(); err != nil {
			return fmt.Errorf("tenant pairs: %w", err)
		}
	}
	fmt.Fprintf(b, "%s\n", g.legend())
	writeNotHeld(b, g.notHeld, "  ")
	return nil
}

func writeNotHeld(b *bytes.Buffer, lines []string, indent string) {
	if len(lines) == 0 {
		b.WriteString("Every pair tried held.\n")
		return
	}
	fmt.Fprintf(b, "%d pair verdict(s) did not hold:\n", len(lines))
	for _, l := range lines {
		fmt.Fprintf(b, "%s%s\n", indent, l)
	}
}

// writeMarkdownTenantPairs is writeTenantPairs as Markdown.
func writeMarkdownTenantPairs(b *bytes.Buffer, r *model.Report) {
	g := newPairGrid(r)
	if g == nil {
		return
	}
	b.WriteString("\n## Tenant pairs\n\n")
	if len(g.tenants) > MaxGridPeers {
		fmt.Fprintf(b, "%d tenants: the grid is drawn up to %d; every pair is in the JSON report, under `tenantPairs`.\n", len(g.tenants), MaxGridPeers)
	} else {
		b.WriteString("| from \\ to |")
		for _, t := range g.tenants {
			fmt.Fprintf(b, " %s |", code(t))
		}
		b.WriteString("\n|---|")
		for range g.tenants {
			b.WriteString("---|")
		}
		b.WriteString("\n")
		for i, from := range g.tenants {
			fmt.Fprintf(b, "| %s |", code(from))
			for _, c := range g.rows[i] {
				if c == "" {
					c = " "
				} else {
					c = code(c)
				}
				fmt.Fprintf(b, " %s |", c)
			}
			b.WriteString("\n")
		}
	}
	fmt.Fprintf(b, "\n%s\n\n", g.legend())
	if len(g.notHeld) == 0 {
		b.WriteString("Every pair tried held.\n")
		return
	}
	for _, l := range g.notHeld {
		fmt.Fprintf(b, "- %s\n", l)
	}
}
