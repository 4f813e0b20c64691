package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantcheck/tenantcheck/internal/model"
)

func brokenReport() *model.Report {
	start := time.Unix(1700000000, 0)
	results := []model.Result{
		{CheckID: "network/cross-tenant-tcp", Layer: model.LayerNetwork, Expected: "Blocked",
			Judgement: model.Broken("a -> b connected"), Evidence: []model.Evidence{
				{From: "a/tc-probe-client", To: "b/tc-probe-server", Verdict: model.VerdictBroken},
				{From: "b/tc-probe-client", To: "a/tc-probe-server", Verdict: model.VerdictHeld},
			}},
		{CheckID: "rbac/list-nodes", Layer: model.LayerRBAC, Judgement: model.Held("forbidden"),
			Evidence: []model.Evidence{{From: "a/default", To: "cluster"}}},
		{CheckID: "flux/x", Layer: model.LayerFlux, Judgement: model.Skipped("no Flux")},
	}
	rep := model.NewReport(model.Metadata{Start: start, End: start.Add(42 * time.Second)}, results, nil)
	rep.EnforcementLatency = model.Millis(400 * time.Millisecond)
	return rep
}

func gauge(t *testing.T, mfs map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	mf, ok := mfs[name]
	if !ok {
		return 0, false
	}
	for _, m := range mf.GetMetric() {
		match := true
		for _, l := range m.GetLabel() {
			if want, ok := labels[l.GetName()]; ok && want != l.GetValue() {
				match = false
			}
		}
		if match {
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

func TestFileParsesLintsAndShowsABrokenLayer(t *testing.T) {
	reg, err := Registry(brokenReport(), []string{"a", "b"}, true)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "tenantcheck.prom")
	require.NoError(t, WriteFile(path, reg))
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	mfs, err := Parse(f)
	require.NoError(t, err, "the text parser reads it and promlint finds nothing")

	v, ok := gauge(t, mfs, "tenantcheck_layer_verdict", map[string]string{"layer": "network", "verdict": "Broken"})
	assert.True(t, ok && v == 1, "the Broken layer shows")
	v, ok = gauge(t, mfs, "tenantcheck_check_verdict", map[string]string{"check": "network/cross-tenant-tcp", "from": "a", "to": "b", "verdict": "Broken"})
	assert.True(t, ok && v == 1, "the broken pair shows")
	v, ok = gauge(t, mfs, "tenantcheck_check_verdict", map[string]string{"check": "network/cross-tenant-tcp", "from": "b", "to": "a", "verdict": "Held"})
	assert.True(t, ok && v == 1, "the pair that held shows as Held")
	v, _ = gauge(t, mfs, "tenantcheck_run_duration_seconds", nil)
	assert.Equal(t, 42.0, v)
	v, _ = gauge(t, mfs, "tenantcheck_last_success_timestamp_seconds", nil)
	assert.Equal(t, 1700000042.0, v)
	v, _ = gauge(t, mfs, "tenantcheck_enforcement_latency_seconds", nil)
	assert.InDelta(t, 0.4, v, 1e-9)
	assert.Len(t, mfs["tenantcheck_check_verdict"].GetMetric(), 4, "two network pairs, one rbac pair, the skipped Flux check")
}

func TestIncompleteRunSetsNoLastSuccess(t *testing.T) {
	reg, err := Registry(brokenReport(), nil, false)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "m.prom")
	require.NoError(t, WriteFile(path, reg))
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.NotContains(t, string(data), "tenantcheck_last_success_timestamp_seconds", "an interrupted run is no success")
	assert.Contains(t, string(data), "tenantcheck_layer_verdict")
}

func TestParseReportsLintProblems(t *testing.T) {
	_, err := Parse(strings.NewReader("# HELP tenantcheck_runs_total x\n# TYPE tenantcheck_runs_total gauge\ntenantcheck_runs_total 1\n"))
	assert.ErrorContains(t, err, "promlint")
}

func TestPushReplacesTheJobsMetrics(t *testing.T) {
	var method, path string
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		method, path = r.Method, r.URL.Path
		body, _ = io.ReadAll(r.Body)
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	reg, err := Registry(brokenReport(), nil, true)
	require.NoError(t, err)
	require.NoError(t, Push(srv.URL, reg))
	assert.Equal(t, http.MethodPut, method, "PUT replaces every metric of the job")
	assert.Equal(t, "/metrics/job/"+Job, path)
	assert.NotEmpty(t, body)

	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) })
	assert.ErrorContains(t, Push(srv.URL, reg), "push metrics to "+srv.URL)
}
