package podsecurity

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	ps "github.com/tenantcheck/tenantcheck/internal/layers/podsecurity"
	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/internal/runner"
	"github.com/tenantcheck/tenantcheck/internal/spec"
	"github.com/tenantcheck/tenantcheck/suites/suitekit"
)

func run(ctx context.Context, t *testing.T, hook func(context.Context, kubernetes.Interface, *runner.Run) error) map[string]model.Result {
	return runSpec(ctx, t, nil, hook)
}

func runSpec(ctx context.Context, t *testing.T, s *spec.Spec, hook func(context.Context, kubernetes.Interface, *runner.Run) error) map[string]model.Result {
	opts := suitekit.Options(t)
	opts.Spec = s
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
// the violations. The label breaks the level check, and every class a pod of
// the tenant now gets in breaks too, in that namespace only: the spec holds
// the tenant to restricted, whatever the label says.
func TestPrivilegedNamespaceIsAFinding(t *testing.T) {
	f := features.New("a tenant namespace at privileged is a finding").
		WithLabel("layer", "podsecurity").WithLabel("check", "namespace-enforces-restricted").
		Assess("the level check and the classes break in that namespace", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			var relabelled string
			res := run(ctx, t, func(ctx context.Context, cs kubernetes.Interface, r *runner.Run) error {
				relabelled = r.Namespace("tenant-a-prod")
				patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]string{"pod-security.kubernetes.io/enforce": "privileged"}}})
				_, err := cs.CoreV1().Namespaces().Patch(ctx, relabelled, types.MergePatchType, patch, metav1.PatchOptions{})
				return err
			})
			for id, r := range res {
				switch id {
				case "podsecurity/namespace-enforces-restricted":
					assert.Equal(t, model.VerdictBroken, r.Verdict)
					assert.Contains(t, r.Reason, relabelled+" enforces privileged")
				case "podsecurity/compliant-pod-admitted", "podsecurity/privileged-workload-blocked":
					assert.Equal(t, model.VerdictHeld, r.Verdict, "%s: %s", id, r.Reason)
				default:
					assert.Equal(t, model.VerdictBroken, r.Verdict, "%s: %s", id, r.Reason)
					assert.Contains(t, r.Reason, relabelled)
					assert.NotContains(t, r.Reason, "tenant-b-prod", "tenant-b still enforces restricted")
				}
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
			suitekit.NeedLocalCluster(t, "needs the local cluster, whose API server can run without PodSecurity")
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

// Must show 3: tenant-a's pods are held to baseline by a
// ValidatingAdmissionPolicy instead of the Pod Security label. When the
// policy's hostPath ban exempts one tenant account, the layer finds that
// account can create the pod and names it and the policy; when it exempts
// only cluster admins (tenantcheck's own identity among them), it holds.
func TestAdmissionPolicyEnforcesPodSecurity(t *testing.T) {
	for _, tc := range []struct {
		fixture string
		broken  bool
	}{{"vap-exempts-account", true}, {"vap-exempts-admins", false}} {
		f := features.New(tc.fixture).
			WithLabel("layer", "podsecurity").WithLabel("check", "host-path").
			Assess("the layer judges what the tenant's accounts get admitted", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
				s := spec.Default()
				s.Tenants[0].PodSecurity = &spec.PodSecurity{Level: "baseline", EnforcedBy: []string{"ValidatingAdmissionPolicy/tc-suite-pod-security"}}
				var nsA string
				fixture := suitekit.Fixtures(t, tc.fixture)
				res := runSpec(ctx, t, s, func(ctx context.Context, cs kubernetes.Interface, r *runner.Run) error {
					nsA = r.Namespace("tenant-a-prod")
					unlabel, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]any{
						"pod-security.kubernetes.io/enforce": nil, "pod-security.kubernetes.io/enforce-version": nil}}})
					if _, err := cs.CoreV1().Namespaces().Patch(ctx, nsA, types.MergePatchType, unlabel, metav1.PatchOptions{}); err != nil {
						return err
					}
					if err := fixture(ctx, cs, r); err != nil {
						return err
					}
					return waitPolicyDenies(ctx, cs, nsA)
				})
				for id, r := range res {
					if id == "podsecurity/host-path" && tc.broken {
						assert.Equal(t, model.VerdictBroken, r.Verdict, r.Reason)
						assert.Contains(t, r.Reason, nsA+"/ci-runner can create a pod with a hostPath volume")
						assert.Contains(t, r.Reason, "ValidatingAdmissionPolicy/tc-suite-pod-security")
						assert.NotContains(t, r.Reason, "tenant-b-prod")
						continue
					}
					assert.Equal(t, model.VerdictHeld, r.Verdict, "%s: %s", id, r.Reason)
				}
				// The refusals name the policy that refused.
				var byPolicy bool
				for _, e := range res["podsecurity/privileged"].Evidence {
					if e.From == nsA+"/ci-runner" && strings.Contains(e.Raw, "ValidatingAdmissionPolicy 'tc-suite-pod-security'") {
						byPolicy = true
					}
				}
				assert.True(t, byPolicy, "ci-runner's privileged pod is refused by the policy")
				assert.Contains(t, res["podsecurity/namespace-enforces-restricted"].Reason, "carry their declared enforcement")
				return ctx
			}).Feature()
		testenv.Test(t, f)
	}
}

// waitPolicyDenies waits until the admission policy a fixture just created
// refuses a hostNetwork pod in ns: policies take effect a moment after they
// are created.
func waitPolicyDenies(ctx context.Context, cs kubernetes.Interface, ns string) error {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "tc-policy-wait", Namespace: ns},
		Spec: corev1.PodSpec{HostNetwork: true, Containers: []corev1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10"}}}}
	return wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err != nil && strings.Contains(err.Error(), "ValidatingAdmissionPolicy"), nil
	})
}
