package metrics

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// prometheusRule is the Prometheus Operator's PrometheusRule, the fields
// the example uses (its module is served but pulls far more than a test
// of one file needs).
type prometheusRule struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string            `json:"name"`
		Namespace string            `json:"namespace"`
		Labels    map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Alert       string            `json:"alert"`
				Expr        string            `json:"expr"`
				For         string            `json:"for,omitempty"`
				Labels      map[string]string `json:"labels"`
				Annotations map[string]string `json:"annotations"`
			} `json:"rules"`
		} `json:"groups"`
	} `json:"spec"`
}

// The example alerts of deploy/monitoring use only metrics and labels this
// package writes: a rename here would otherwise leave them silent.
func TestExampleRuleUsesOurMetrics(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", "monitoring", "prometheusrule.yaml"))
	require.NoError(t, err)
	var r prometheusRule
	require.NoError(t, yaml.UnmarshalStrict(raw, &r))
	assert.Equal(t, "monitoring.coreos.com/v1", r.APIVersion)
	assert.Equal(t, "PrometheusRule", r.Kind)

	reg, err := Registry(brokenReport(), []string{"a", "b"}, true)
	require.NoError(t, err)
	mfs, err := reg.Gather()
	require.NoError(t, err)
	labels := map[string]map[string]bool{}
	for _, mf := range mfs {
		labels[mf.GetName()] = map[string]bool{}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				labels[mf.GetName()][l.GetName()] = true
			}
		}
	}
	metric := regexp.MustCompile(`tenantcheck_[a-z_]+`)
	selector := regexp.MustCompile(`(tenantcheck_[a-z_]+)\{([^}]*)\}`)
	by := regexp.MustCompile(`by \(([^)]*)\)`)
	alerts := map[string]bool{}
	for _, g := range r.Spec.Groups {
		for _, rule := range g.Rules {
			alerts[rule.Alert] = true
			require.NotEmpty(t, rule.Expr, rule.Alert)
			assert.Contains(t, []string{"critical", "warning"}, rule.Labels["severity"], rule.Alert)
			for _, name := range metric.FindAllString(rule.Expr, -1) {
				assert.Contains(t, labels, name, "%s: metric %s is not written", rule.Alert, name)
			}
			for _, m := range selector.FindAllStringSubmatch(rule.Expr, -1) {
				for _, matcher := range strings.Split(m[2], ",") {
					name, _, _ := strings.Cut(strings.TrimSpace(matcher), "=")
					assert.True(t, labels[m[1]][strings.TrimRight(name, "!~")], "%s: %s has no label %s", rule.Alert, m[1], name)
				}
			}
			for _, m := range by.FindAllStringSubmatch(rule.Expr, -1) {
				for _, l := range strings.Split(m[1], ",") {
					assert.True(t, labels["tenantcheck_layer_verdict"][strings.TrimSpace(l)] || labels["tenantcheck_check_verdict"][strings.TrimSpace(l)],
						"%s: by (%s): no such label", rule.Alert, l)
				}
			}
		}
	}
	assert.Equal(t, map[string]bool{"TenantIsolationBroken": true, "TenantcheckNoRecentSuccess": true}, alerts,
		"a Broken layer, and no successful run for 3 hours")
}
