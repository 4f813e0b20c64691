package audit

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/suites/suitekit"
)

// holdFinalizer keeps an object, and so its namespace, from going.
const holdFinalizer = "tenantcheck.io/suite-hold"

// Issue 13, must show 3: a Broken audit whose cleanup fails (a finalizer
// holds the run's own namespace past --cleanup-timeout) still exits 1, and
// the report records the cleanup failure beside the finding.
func TestBrokenRunWithFailedCleanupExits1(t *testing.T) {
	f := features.New("a finding survives a failed cleanup").
		WithLabel("mode", "audit").WithLabel("check", "exit-codes").
		Assess("exit 1, cleanup error recorded", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			cs := suitekit.Client(ctx, t).Clientset
			specPath := specFile(t, realTenants(ctx, t, cs))
			openTenantA(ctx, t, cs)
			report := filepath.Join(t.TempDir(), "report.json")
			bin := suitekit.BuildCLI(t)
			cmd := exec.Command(bin, "audit", "--spec", specPath, "--layers", "network", "--cleanup-timeout", "5s",
				"--kubeconfig", cfg.KubeconfigFile(), "-o", "json", "--output-file", report)
			cmd.Env = os.Environ()
			stderr, err := cmd.StderrPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())

			// Once the run's outsider namespace exists, hold it with a finalizer.
			var held *corev1.ConfigMap
			sc := bufio.NewScanner(stderr)
			for sc.Scan() {
				t.Log(sc.Text())
				if held == nil && strings.Contains(sc.Text(), "created only ") {
					ns := strings.TrimSuffix(strings.Fields(strings.SplitN(sc.Text(), "created only ", 2)[1])[0], ",")
					held = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "hold", Namespace: ns, Finalizers: []string{holdFinalizer}}}
					_, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, held, metav1.CreateOptions{})
					require.NoError(t, err, "hold namespace %s", ns)
					t.Cleanup(func() { release(t, cs, held) })
				}
			}
			err = cmd.Wait()
			var ee *exec.ExitError
			require.True(t, errors.As(err, &ee), "a Broken run exits non-zero: %v", err)
			assert.Equal(t, 1, ee.ExitCode(), "Broken stays 1 though cleanup failed")
			require.NotNil(t, held, "the run's namespace was held")

			data, err := os.ReadFile(report)
			require.NoError(t, err)
			rep, err := model.DecodeReport(strings.NewReader(string(data)))
			require.NoError(t, err)
			assert.Contains(t, rep.Metadata.CleanupError, held.Namespace, "the report records the failed cleanup")
			broken := false
			for _, r := range rep.Results {
				broken = broken || r.Verdict == model.VerdictBroken
			}
			assert.True(t, broken, "the finding is in the report")

			release(t, cs, held)
			require.Eventually(t, func() bool { return len(suitekit.LeftNamespaces(ctx, t)) == 0 },
				2*time.Minute, time.Second, "the held namespace goes once released")
			return ctx
		}).Feature()
	testenv.Test(t, f)
}

// release removes the hold's finalizer.
func release(t *testing.T, cs kubernetes.Interface, cm *corev1.ConfigMap) {
	_, err := cs.CoreV1().ConfigMaps(cm.Namespace).Patch(context.Background(), cm.Name, types.MergePatchType,
		[]byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
	if err != nil && !strings.Contains(err.Error(), "not found") {
		t.Logf("release %s/%s: %v", cm.Namespace, cm.Name, err)
	}
}

// Issue 13: one tenant without room for the probe pods (at its CPU quota)
// makes that tenant's paths Errors that say so, not the whole network
// layer: the other tenant's paths are judged, and the canary runs.
func TestTenantAtQuotaErrsOnlyItsPaths(t *testing.T) {
	f := features.New("a tenant at its quota errs only its own paths").
		WithLabel("mode", "audit").WithLabel("check", "quota-room").
		Assess("tenant-b's paths are Errors, tenant-a's are judged", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			cs := suitekit.Client(ctx, t).Clientset
			s := realTenants(ctx, t, cs)
			require.NoError(t, suitekit.ApplyFixtureTo(ctx, t, "at-cpu-quota", "audit-tenant-a", "audit-tenant-b"))
			opts := suitekit.Options(t)
			opts.Spec, opts.Mode = s, model.ModeAudit
			opts.Layers = []model.Layer{model.LayerNetwork}
			got := map[string]model.Result{}
			for _, r := range suitekit.Execute(ctx, t, opts).Results {
				got[r.CheckID] = r
			}
			cross := got["network/cross-tenant-tcp"]
			assert.Equal(t, model.VerdictError, cross.Verdict)
			assert.Contains(t, cross.Reason, "no probe runs in audit-tenant-b")
			assert.Contains(t, cross.Reason, "exceeded quota")
			same := got["network/same-namespace"]
			assert.Equal(t, model.VerdictError, same.Verdict)
			assert.NotContains(t, same.Observed, "0 held", "the other namespaces' own paths are judged: %s", same.Observed)
			assert.Equal(t, model.VerdictHeld, got["network/policy-enforced"].Verdict, got["network/policy-enforced"].Reason)
			other := got["network/other-namespace-ingress-denied"]
			assert.Equal(t, "6 held, 0 broken, 6 error", other.Observed, "outsider -> tenant-a judged, outsider -> tenant-b an Error")
			assert.Empty(t, suitekit.LeftNamespaces(ctx, t))
			return ctx
		}).Feature()
	testenv.Test(t, f)
}
