package report

import (
	"bytes"
	"fmt"

	"github.com/tenantcheck/tenantcheck/internal/model"
)

// maxWorkloadLines bounds the workload paths the table lists; JSON and
// Markdown have them all.
const maxWorkloadLines = 20

// writeWorkloads lists, per tenant pair, the paths to real workloads that
// policy or the dataplane opens, with the three columns.
func writeWorkloads(b *bytes.Buffer, paths []model.WorkloadPath) {
	if len(paths) == 0 {
		return
	}
	fmt.Fprintf(b, "\nWorkload paths open by policy or in the dataplane (%d)\n", len(paths))
	pair := ""
	for i, w := range paths {
		if i == maxWorkloadLines {
			fmt.Fprintf(b, "  and %d more (see -o json or -o markdown)\n", len(paths)-i)
			break
		}
		if w.Pair() != pair {
			pair = w.Pair()
			fmt.Fprintf(b, "  %s\n", pair)
		}
		fmt.Fprintf(b, "    %s -> %s %d/%s: %s\n", w.From, w.To, w.Port, w.Protocol, w.Columns())
	}
}

func writeMarkdownWorkloads(b *bytes.Buffer, paths []model.WorkloadPath) {
	if len(paths) == 0 {
		return
	}
	b.WriteString("\n## Workload paths open by policy or in the dataplane\n\n")
	b.WriteString("| Tenants | From | To | Port | Intended | Policy | Dataplane |\n|---|---|---|---|---|---|---|\n")
	for _, w := range paths {
		live := string(w.Dataplane)
		if live == "" {
			live = "not probed live"
		}
		policy := string(w.Policy)
		if w.PolicyWhy != "" {
			policy += ": " + w.PolicyWhy
		}
		fmt.Fprintf(b, "| %s | %s | %s | %d/%s | %s | %s | %s |\n", cell(w.Pair()), code(w.From), code(w.To), w.Port, w.Protocol,
			w.Intended, cell(policy), live)
	}
}
