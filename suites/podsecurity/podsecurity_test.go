package podsecurity

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	ps "github.com/tenantcheck/tenantcheck/internal/layers/podsecurity"
	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/internal/runner"
	"github.com/tenantcheck/tenantcheck/suites/suitekit"
)

func run(ctx context.Context, t *testing.T, hook func(context.Context, kubernetes.Interface, *runner.Run) error) map[string]model.Result {
	opts := suitekit.Options(t)
	opts.Layers = []model.Layer{model.LayerPodSecurity}
	opts.AfterProvision = hook
	stop := suitekit.WatchUnsafePods(ctx, t)
	rep := suitekit.Execute(ctx, t, opts)
	assert.Empty(t, stop(), "no privileged or host-namespace pod may ever be persisted")
	out := map[string]model.Result{}
	for _, r := range rep.Results {
		out[r.CheckID] = r
	}
	require.Len(t, out, len(ps.Checks)+3, "every violation class, the level check, the positive control and the workload check report")
	return out
}

// Baseline tenants enforce restricted: every violation class is rejected
// and a compliant pod is admitted.
func TestBaselineRejectsEveryViolation(t *testing.T) {
	f := features.New("restricted tenants reject every violation class").
		WithLabel("layer", "podsecurity").WithLabel("check", "all").
		Assess("all checks hold", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			for id, r := range run(ctx, t, nil) {
				assert.Equal(t, model.VerdictHeld, r.Verdict, "%s: %s", id, r.Reason)
			}
			return ctx
		}).Feature()
	testenv.Test(t, f)
}

// A tenant namespace relabelled enforce=privileged: the API server now admits
// the violations, as the label says it should, so exactly the level check
// breaks: the finding is the label, named with its namespace.
func TestPrivilegedNamespaceIsAFinding(t *testing.T) {
	f := features.New("a tenant namespace at privileged is a finding").
		WithLabel("layer", "podsecurity").WithLabel("check", "namespace-enforces-restricted").
		Assess("only the level check breaks", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			var relabelled string
			res := run(ctx, t, func(ctx context.Context, cs kubernetes.Interface, r *runner.Run) error {
				relabelled = r.Namespace("tenant-a-prod")
				patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]string{"pod-security.kubernetes.io/enforce": "privileged"}}})
				_, err := cs.CoreV1().Namespaces().Patch(ctx, relabelled, types.MergePatchType, patch, metav1.PatchOptions{})
				return err
			})
			for id, r := range res {
				if id == "podsecurity/namespace-enforces-restricted" {
					assert.Equal(t, model.VerdictBroken, r.Verdict)
					assert.Contains(t, r.Reason, relabelled+" enforces privileged")
					continue
				}
				assert.Equal(t, model.VerdictHeld, r.Verdict, "%s: %s", id, r.Reason)
			}
			return ctx
		}).Feature()
	testenv.Test(t, f)
}

// The API server without the PodSecurity admission plugin: the labels still
// say restricted, but every violation class is admitted. Needs the local
// cluster (TENANTCHECK_LOCAL_CLUSTER=1, set by `make test`), whose API server
// can be restarted without the plugin; skipped with that reason elsewhere.
func TestAdmissionPluginOffIsCaught(t *testing.T) {
	f := features.New("an API server without PodSecurity admission is caught").
		WithLabel("layer", "podsecurity").WithLabel("check", "violations").
		Setup(func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			if !suitekit.LocalCluster() {
				t.Skip("needs the local cluster, whose API server can run without PodSecurity (TENANTCHECK_LOCAL_CLUSTER=1)")
			}
			suitekit.SetPodSecurityAdmission(t, false)
			return ctx
		}).
		Assess("every violation class breaks; the labels and the control hold", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			for id, r := range run(ctx, t, nil) {
				switch id {
				case "podsecurity/namespace-enforces-restricted", "podsecurity/compliant-pod-admitted":
					assert.Equal(t, model.VerdictHeld, r.Verdict, "%s: %s", id, r.Reason)
				case "podsecurity/privileged-workload-blocked":
					assert.Equal(t, model.VerdictSkipped, r.Verdict, "never tried where it would persist a privileged pod: %s", r.Reason)
				default:
					assert.Equal(t, model.VerdictBroken, r.Verdict, "%s: %s", id, r.Reason)
				}
			}
			return ctx
		}).
		Teardown(func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			if suitekit.LocalCluster() {
				suitekit.SetPodSecurityAdmission(t, true)
			}
			return ctx
		}).Feature()
	testenv.Test(t, f)
}
