package report

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/tenantcheck/tenantcheck/internal/model"
)

func result(layer model.Layer, j model.Judgement) model.Result {
	return model.Result{CheckID: string(layer) + "/x", Layer: layer, Judgement: j}
}

func TestResultLine(t *testing.T) {
	held := result(model.LayerRBAC, model.Held("forbidden as expected"))
	broken := result(model.LayerNetwork, model.Broken("allowed, expected blocked"))
	brokenRBAC := result(model.LayerRBAC, model.Broken("admitted, expected forbidden"))
	errored := result(model.LayerPodSecurity, model.Errored("api request failed"))
	skip := result(model.LayerFlux, model.Skipped("flux not installed"))
	for _, tc := range []struct {
		name    string
		results []model.Result
		want    string
	}{
		{"no results", nil, "RESULT: incomplete: no checks ran"},
		{"all held", []model.Result{held}, "RESULT: all layers hold"},
		{"held and skipped", []model.Result{held, skip}, "RESULT: all layers hold (1 layer(s) skipped: flux)"},
		{"all skipped", []model.Result{skip}, "RESULT: nothing verified: every check was skipped"},
		{"broken in report order", []model.Result{broken, held, brokenRBAC},
			"RESULT: 2 layer(s) broken: rbac, network"},
		{"broken and error", []model.Result{errored, broken},
			"RESULT: 1 layer(s) broken: network; 1 layer(s) incomplete: podsecurity"},
		{"error only", []model.Result{held, errored, skip},
			"RESULT: incomplete: 1 layer(s) could not be verified: podsecurity"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := model.NewReport(model.Metadata{}, tc.results, nil)
			got := ResultLine(rep)
			assert.Equal(t, tc.want, got)
			assertConsistent(t, model.ExitCode(rep), got)
		})
	}
	assert.Equal(t, "RESULT: incomplete: no checks ran", ResultLine(nil))
}

// assertConsistent checks that a result line says what the exit code means.
func assertConsistent(t *testing.T, code int, line string) {
	t.Helper()
	broken := strings.Contains(line, " broken: ")
	incomplete := strings.HasPrefix(line, "RESULT: incomplete: ") || strings.HasPrefix(line, "RESULT: nothing verified: ")
	switch code {
	case model.ExitHeld:
		assert.False(t, broken || incomplete, "exit 0 but %q", line)
	case model.ExitBroken:
		assert.True(t, broken && !incomplete, "exit 1 but %q", line)
	default:
		assert.True(t, incomplete && !broken, "exit %d but %q", code, line)
	}
}
