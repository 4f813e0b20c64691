package namespace

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/tenantcheck/tenantcheck/internal/kube"
	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/internal/runner"
	"github.com/tenantcheck/tenantcheck/suites/suitekit"
)

const (
	tenantLabel = "namespace/tenant-label"
	psaLabels   = "namespace/pod-security-labels-pinned"
	inDefault   = "namespace/no-tenant-workload-in-default"
)

// run provisions the guide's tenants, lets hook break them, and returns the
// namespace layer's verdicts and results.
func run(ctx context.Context, t *testing.T, hook func(context.Context, kubernetes.Interface, *runner.Run) error) map[string]model.Result {
	opts := suitekit.Options(t)
	opts.Layers = []model.Layer{model.LayerNamespace}
	opts.AfterProvision = hook
	rep := suitekit.Execute(ctx, t, opts)
	out := map[string]model.Result{}
	for _, r := range rep.Results {
		out[r.CheckID] = r
	}
	assert.Len(t, out, 3, "every check of the layer reports")
	return out
}

func assertOnlyBroken(t *testing.T, res map[string]model.Result, broken string) {
	t.Helper()
	for id, r := range res {
		want := model.VerdictHeld
		if id == broken {
			want = model.VerdictBroken
		}
		assert.Equal(t, want, r.Verdict, "%s: %s", id, r.Reason)
	}
}

func patchLabels(ctx context.Context, cs kubernetes.Interface, ns, patch string) error {
	_, err := cs.CoreV1().Namespaces().Patch(ctx, ns, types.MergePatchType, []byte(`{"metadata":{"labels":`+patch+`}}`), metav1.PatchOptions{})
	return err
}

func TestNamespaceLayer(t *testing.T) {
	f := features.New("namespace layer").WithLabel("layer", "namespace").WithLabel("check", "all").
		Assess("the guide's tenants, pinned, hold", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			assertOnlyBroken(t, run(ctx, t, nil), "")
			return ctx
		}).
		Assess("a namespace that names another tenant breaks the tenant label", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			var ns string
			res := run(ctx, t, func(ctx context.Context, cs kubernetes.Interface, r *runner.Run) error {
				ns = r.Namespace("tenant-b-prod")
				return patchLabels(ctx, cs, ns, `{"tenant.platform.example/name":"tenant-a"}`)
			})
			assertOnlyBroken(t, res, tenantLabel)
			assert.Contains(t, res[tenantLabel].Reason, ns)
			return ctx
		}).
		Assess("enforce-version latest breaks the Pod Security labels", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			res := run(ctx, t, func(ctx context.Context, cs kubernetes.Interface, r *runner.Run) error {
				return patchLabels(ctx, cs, r.Namespace("tenant-a-prod"), `{"pod-security.kubernetes.io/enforce-version":"latest"}`)
			})
			assertOnlyBroken(t, res, psaLabels)
			assert.Contains(t, res[psaLabels].Reason, `"latest" is not pinned`)
			return ctx
		}).
		Assess("a tenant's pod in default is a finding", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			cs := suitekit.Client(ctx, t).Clientset
			name := fmt.Sprintf("tc-stray-%d", time.Now().UnixNano()%100000)
			t.Cleanup(func() { _ = cs.CoreV1().Pods("default").Delete(context.Background(), name, metav1.DeleteOptions{}) })
			res := run(ctx, t, func(ctx context.Context, cs kubernetes.Interface, r *runner.Run) error {
				pod := kube.RestrictedPod(kube.PodOptions{Namespace: "default", Name: name, Image: os.Getenv("TENANTCHECK_PROBE_IMAGE"),
					PullPolicy: corev1.PullPolicy(os.Getenv("TENANTCHECK_IMAGE_PULL_POLICY")),
					Labels:     map[string]string{"app.kubernetes.io/part-of": "tenant-a"}})
				_, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
				return err
			})
			assertOnlyBroken(t, res, inDefault)
			assert.Contains(t, res[inDefault].Reason, "pod "+name+" (app.kubernetes.io/part-of=tenant-a)")
			return ctx
		}).Feature()
	testenv.Test(t, f)
}

// Must show 4 of the seam: every repro command of a full run names the
// kubeconfig and the context that were checked, so pasting it never hits
// the reader's current cluster instead.
func TestEveryReproNamesTheCluster(t *testing.T) {
	f := features.New("repro commands name the checked cluster").WithLabel("layer", "all").WithLabel("check", "repro").
		Assess("every layer's repro carries --kubeconfig and --context", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			c := suitekit.Client(ctx, t)
			assert.NotEmpty(t, c.Kubeconfig, "the suite's kubeconfig path is known")
			assert.NotEmpty(t, c.Context, "the suite's context is known")
			want := c.Kubectl()
			assert.Contains(t, want, "--context "+c.Context)
			opts := suitekit.Options(t)
			opts.Layers = nil // every layer
			rep := suitekit.Execute(ctx, t, opts)
			perLayer := map[model.Layer]int{}
			for _, r := range rep.Results {
				for _, e := range r.Evidence {
					if e.Repro == "" {
						continue
					}
					perLayer[r.Layer]++
					if !strings.Contains(e.Repro, want+" ") {
						t.Errorf("%s: repro does not start from %q: %s", r.CheckID, want, e.Repro)
					}
				}
			}
			for _, l := range []model.Layer{model.LayerNamespace, model.LayerNetwork, model.LayerPodSecurity, model.LayerQuota, model.LayerRBAC} {
				assert.Positive(t, perLayer[l], "layer %s gives at least one repro command", l)
			}
			return ctx
		}).Feature()
	testenv.Test(t, f)
}
