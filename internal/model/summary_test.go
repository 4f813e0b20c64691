package model

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func res(l Layer, j Judgement) Result {
	return Result{CheckID: string(l) + "/x", Layer: l, Judgement: j}
}

func TestSummarize(t *testing.T) {
	tests := []struct {
		name    string
		results []Result
		want    []LayerSummary
	}{
		{"none", nil, []LayerSummary{}},
		{
			name:    "held",
			results: []Result{res(LayerNetwork, Held("")), res(LayerNetwork, Skipped("udp off"))},
			want: []LayerSummary{{Layer: LayerNetwork, ProtectsAgainst: "lateral traffic between tenants",
				Held: 1, Skipped: 1, Verdict: VerdictHeld}},
		},
		{
			name: "broken beats error",
			results: []Result{res(LayerRBAC, Errored("x")), res(LayerRBAC, Broken("")),
				res(LayerRBAC, Held(""))},
			want: []LayerSummary{{Layer: LayerRBAC, ProtectsAgainst: "API misuse across tenant boundaries",
				Held: 1, Broken: 1, Errors: 1, Verdict: VerdictBroken}},
		},
		{
			name:    "error beats held",
			results: []Result{res(LayerQuota, Held("")), res(LayerQuota, Errored("x"))},
			want: []LayerSummary{{Layer: LayerQuota, ProtectsAgainst: "noisy-neighbor resource exhaustion",
				Held: 1, Errors: 1, Verdict: VerdictError}},
		},
		{
			name:    "all skipped",
			results: []Result{res(LayerFlux, Skipped("flux not installed"))},
			want: []LayerSummary{{Layer: LayerFlux, ProtectsAgainst: "GitOps reconciling with excessive privileges",
				Skipped: 1, Verdict: VerdictSkipped}},
		},
		{
			name:    "unknown verdict counts as error",
			results: []Result{res(LayerFlux, Judgement{Verdict: "Passed"})},
			want: []LayerSummary{{Layer: LayerFlux, ProtectsAgainst: "GitOps reconciling with excessive privileges",
				Errors: 1, Verdict: VerdictError}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Summarize(tt.results))
		})
	}
}

func TestSummarizeOrder(t *testing.T) {
	got := Summarize([]Result{
		res(LayerFlux, Held("")), res("storage", Held("")), res(LayerNetwork, Held("")),
		res(LayerRBAC, Held("")), res(LayerNetwork, Broken("")),
	})
	var layers []Layer
	for _, s := range got {
		layers = append(layers, s.Layer)
	}
	assert.Equal(t, []Layer{LayerRBAC, LayerNetwork, LayerFlux, "storage"}, layers)
	assert.Equal(t, VerdictBroken, got[1].Verdict)
}

func TestExitCode(t *testing.T) {
	tests := []struct {
		name    string
		results []Result
		want    int
	}{
		{"no results", nil, ExitIncomplete},
		{"all held", []Result{res(LayerNetwork, Held("")), res(LayerRBAC, Held(""))}, ExitHeld},
		{"held and skipped", []Result{res(LayerNetwork, Held("")), res(LayerFlux, Skipped("x"))}, ExitHeld},
		{"all skipped: nothing verified", []Result{res(LayerFlux, Skipped("x"))}, ExitIncomplete},
		{"error and skipped", []Result{res(LayerNetwork, Errored("x")), res(LayerFlux, Skipped("x"))}, ExitIncomplete},
		{"one error", []Result{res(LayerNetwork, Held("")), res(LayerRBAC, Errored("x"))}, ExitIncomplete},
		{"broken beats error", []Result{res(LayerNetwork, Errored("x")), res(LayerRBAC, Broken(""))}, ExitBroken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, ExitCode(NewReport(Metadata{}, tt.results, nil)))
		})
	}
	assert.Equal(t, ExitIncomplete, ExitCode(nil))
}
