package model

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func exampleReport(t *testing.T) *Report {
	t.Helper()
	check := Check{
		ID:       "network/cross-tenant-tcp-pod-ip",
		Layer:    LayerNetwork,
		Name:     "cross-tenant TCP via pod IP",
		Expected: ExpectReach(ReachBlocked),
	}
	r := check.Result(JudgeReach(ReachBlocked, ReachAllowed, true))
	r.Observed = string(ReachAllowed)
	r.Attempts = 1
	r.Duration = Millis(1500 * time.Millisecond)
	r.Evidence = []Evidence{{
		Action: "connect TCP/8080", From: podA, To: "10.244.1.7:8080", Outcome: OutcomeConnected,
		Attempts: 1, Duration: Millis(12 * time.Millisecond),
		Repro: "kubectl exec -n tenant-a-prod probe -- /tenantcheck-probe connect --protocol tcp 10.244.1.7:8080",
	}}
	start := time.Date(2025, 11, 26, 4, 0, 0, 0, time.UTC)
	rep := NewReport(Metadata{
		ClusterVersion: "v1.35.0", Nodes: 2, CNI: "calico", TenantcheckVersion: "dev",
		Mode: ModeProvision, Start: start, End: start.Add(20 * time.Second),
		SpecDigest: "sha256:abc", Tenants: []string{"tenant-a", "tenant-b"},
	}, []Result{r, {CheckID: "flux/x", Layer: LayerFlux, Judgement: Skipped("flux not installed")}},
		[]Matrix{*exampleMatrix(t)})
	rep.Timings = []PhaseTiming{{Phase: "deploy", Duration: Millis(6400 * time.Millisecond)}}
	rep.EnforcementLatency = Millis(200 * time.Millisecond)
	return rep
}

func TestReportRoundTrip(t *testing.T) {
	rep := exampleReport(t)
	data, err := json.MarshalIndent(rep, "", "  ")
	require.NoError(t, err)
	golden(t, "report.json", string(data)+"\n")

	got, err := DecodeReport(bytes.NewReader(data))
	require.NoError(t, err)
	assert.Equal(t, rep, got)
	assert.Equal(t, ExitBroken, ExitCode(got))
}

// A report written before matrices went sparse (v1alpha1, two grids per
// matrix) still reads, as the same report: diff compares across versions.
func TestDecodeV1alpha1Report(t *testing.T) {
	data, err := os.ReadFile("testdata/report-v1alpha1.json")
	require.NoError(t, err)
	require.Contains(t, string(data), `"apiVersion": "tenantcheck.io/v1alpha1"`)
	got, err := DecodeReport(bytes.NewReader(data))
	require.NoError(t, err)
	assert.Equal(t, exampleReport(t), got)
}

func TestDecodeReportErrors(t *testing.T) {
	valid, err := json.Marshal(exampleReport(t))
	require.NoError(t, err)
	edit := func(old, new string) string {
		t.Helper()
		require.Contains(t, string(valid), old)
		return strings.Replace(string(valid), old, new, 1)
	}
	tests := []struct {
		name, input, wantErr string
	}{
		{"not json", "kind: Report", "decode report"},
		{"wrong kind", `{"apiVersion":"tenantcheck.io/v1alpha1","kind":"TenancySpec"}`,
			`not a tenantcheck report: kind is "TenancySpec"`},
		{"no kind", `{}`, `not a tenantcheck report: kind is ""`},
		{"wrong version", `{"apiVersion":"tenantcheck.io/v2","kind":"Report","future":1}`,
			`unsupported report apiVersion "tenantcheck.io/v2"`},
		{"unknown field", edit(`"nodes":2`, `"nodes":2,"colour":"red"`), `unknown field "colour"`},
		{"trailing data", string(valid) + "{}", "after top-level value"},
		{"error without reason", edit(`"verdict":"Skipped","reason":"flux not installed"`, `"verdict":"Skipped"`),
			"results[1]: result flux/x: verdict Skipped needs a reason"},
		{"unknown layer", edit(`"checkId":"flux/x","layer":"flux"`, `"checkId":"flux/x","layer":"storage"`),
			`unknown layer "storage"`},
		{"unknown summary layer", edit(`"layer":"flux"`, `"layer":"storage"`), `layers[1]: unknown layer "storage"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeReport(strings.NewReader(tt.input))
			assert.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestMillisJSON(t *testing.T) {
	data, err := json.Marshal(struct {
		D Millis `json:"durationMs"`
	}{Millis(1234567 * time.Microsecond)})
	require.NoError(t, err)
	assert.JSONEq(t, `{"durationMs":1234}`, string(data))

	var d Millis
	require.NoError(t, json.Unmarshal([]byte("250"), &d))
	assert.Equal(t, 250*time.Millisecond, time.Duration(d))
	assert.Error(t, json.Unmarshal([]byte(`"250ms"`), &d))
}
