package audit

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/tenantcheck/tenantcheck/suites/suitekit"
)

// An audit killed (SIGKILL: no cleanup runs) while its mimics stand in the
// tenants' namespaces: `tenantcheck cleanup` removes them (they carry no
// label of the run, only its annotations) and says "clean" only once they
// are gone; the tenants' own pods stay as they were.
func TestKilledAuditLeavesNoMimic(t *testing.T) {
	f := features.New("SIGKILL mid-audit with mimics in the tenants, then cleanup").
		WithLabel("mode", "audit").WithLabel("check", "cleanup").
		Assess("no mimic is left", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			cs := suitekit.Client(ctx, t).Clientset
			specPath := specFile(t, realTenants(ctx, t, cs))
			require.NoError(t, suitekit.ApplyFixtureTo(ctx, t, "shop-workloads", "audit-tenant-a", "audit-tenant-b"))
			apiPods := waitWorkloads(ctx, t, cs)
			bin := suitekit.BuildCLI(t)

			w, err := cs.CoreV1().Pods("audit-tenant-b").Watch(ctx, metav1.ListOptions{})
			require.NoError(t, err)
			defer w.Stop()
			cmd := exec.Command(bin, "audit", "--spec", specPath, "--layers", "network", "--kubeconfig", cfg.KubeconfigFile())
			cmd.Env = os.Environ()
			stderr, err := cmd.StderrPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			go func() {
				sc := bufio.NewScanner(stderr)
				for sc.Scan() {
					t.Log(sc.Text())
				}
			}()
			timeout := time.After(3 * time.Minute)
		wait:
			for {
				select {
				case ev := <-w.ResultChan():
					if p, ok := ev.Object.(metav1.Object); ok && ev.Type == watch.Added && strings.HasPrefix(p.GetName(), "tc-mimic-") {
						require.NoError(t, cmd.Process.Kill())
						_ = cmd.Wait()
						t.Logf("audit killed with mimic %s in place", p.GetName())
						break wait
					}
				case <-timeout:
					_ = cmd.Process.Kill()
					_ = cmd.Wait()
					t.Fatal("the audit never created a mimic")
				}
			}

			out, err := exec.CommandContext(ctx, bin, "cleanup", "--older-than=0", "--kubeconfig", cfg.KubeconfigFile(), "--timeout", "2m").CombinedOutput()
			require.NoError(t, err, "%s", out)
			assert.Contains(t, string(out), "clean: no namespace and no object labelled")
			assertNoRunPods(ctx, t, cs, apiPods) // once cleanup says clean
			assert.Empty(t, suitekit.LeftNamespaces(ctx, t))
			return ctx
		}).Feature()
	testenv.Test(t, f)
}
