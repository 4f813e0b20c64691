package network

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/tenantcheck/tenantcheck/internal/baseline"
	"github.com/tenantcheck/tenantcheck/suites/suitekit"
)

// SIGINT while the probes run: the CLI still cleans up, exits 2, and no
// tenantcheck namespace is left.
func TestInterruptLeavesNothing(t *testing.T) {
	f := features.New("SIGINT mid-probe leaves nothing behind").
		WithLabel("layer", "network").WithLabel("check", "cleanup").
		Assess("interrupted run removes its namespaces", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			bin := suitekit.BuildCLI(t)
			cmd := exec.Command(bin, "run", "--kubeconfig", cfg.KubeconfigFile())
			cmd.Env = os.Environ()
			stderr, err := cmd.StderrPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			sc := bufio.NewScanner(stderr)
			var seen []string
			for sc.Scan() {
				seen = append(seen, sc.Text())
				if strings.Contains(sc.Text(), "network: probing") {
					require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
					break
				}
			}
			go func() {
				for sc.Scan() {
					t.Log(sc.Text())
				}
			}()
			err = cmd.Wait()
			var ee *exec.ExitError
			require.True(t, errors.As(err, &ee), "exit status after SIGINT: %v; output so far:\n%s", err, strings.Join(seen, "\n"))
			assert.Equal(t, 2, ee.ExitCode(), "an interrupted run could not be done: exit 2")
			assert.Empty(t, suitekit.LeftNamespaces(ctx, t), "no tenantcheck namespace may be left")
			return ctx
		}).Feature()
	testenv.Test(t, f)
}

// --keep leaves the run's namespaces; `tenantcheck cleanup` removes them.
func TestCleanupRemovesKeptRun(t *testing.T) {
	f := features.New("cleanup removes what a run left").
		WithLabel("layer", "network").WithLabel("check", "cleanup").
		Assess("kept namespaces are removed by cleanup", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			bin := suitekit.BuildCLI(t)
			run := exec.Command(bin, "run", "--keep", "--kubeconfig", cfg.KubeconfigFile(), "-o", "json")
			run.Env = os.Environ()
			out, err := run.CombinedOutput()
			require.NoError(t, err, "%s", out)
			require.NotEmpty(t, suitekit.LeftNamespaces(ctx, t), "--keep leaves the namespaces")
			clean := exec.CommandContext(ctx, bin, "cleanup", "--older-than=0", "--kubeconfig", cfg.KubeconfigFile(), "--timeout", "2m")
			out, err = clean.CombinedOutput()
			require.NoError(t, err, "%s", out)
			assert.Contains(t, string(out), "clean:")
			assert.Empty(t, suitekit.LeftNamespaces(ctx, t))
			return ctx
		}).Feature()
	testenv.Test(t, f)
}

// Issue 13, must show 4: `tenantcheck cleanup` while a run is in progress
// removes nothing of that run (it is younger than --older-than), its
// --dry-run lists that run and deletes nothing either, and the run ends as
// if nobody had called them; a namespace someone else labelled as
// tenantcheck's is never touched.
func TestCleanupSparesARunInProgress(t *testing.T) {
	f := features.New("cleanup spares a run in progress").
		WithLabel("layer", "network").WithLabel("check", "cleanup").
		Assess("the run's namespaces stay until it ends", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			cs := suitekit.Client(ctx, t).Clientset
			impostor := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "not-tenantchecks", Labels: map[string]string{
				baseline.LabelManagedBy: baseline.ManagedByTenantcheck, baseline.LabelRun: "abcde"}}}
			_, err := cs.CoreV1().Namespaces().Create(ctx, impostor, metav1.CreateOptions{})
			require.NoError(t, err)
			t.Cleanup(func() {
				_ = cs.CoreV1().Namespaces().Delete(context.Background(), impostor.Name, metav1.DeleteOptions{})
			})

			bin := suitekit.BuildCLI(t)
			cleanup := func(args ...string) string {
				cmd := exec.CommandContext(ctx, bin, append([]string{"cleanup", "--kubeconfig", cfg.KubeconfigFile(), "--timeout", "2m"}, args...)...)
				out, err := cmd.CombinedOutput()
				require.NoError(t, err, "%s", out)
				return string(out)
			}
			run := exec.Command(bin, "run", "--layers", "network", "--kubeconfig", cfg.KubeconfigFile(), "-o", "json")
			run.Env = os.Environ()
			stderr, err := run.StderrPipe()
			require.NoError(t, err)
			require.NoError(t, run.Start())
			sc := bufio.NewScanner(stderr)
			for sc.Scan() {
				if strings.Contains(sc.Text(), "network: probing") {
					break
				}
			}
			go func() {
				for sc.Scan() {
					t.Log(sc.Text())
				}
			}()
			during := suitekit.LeftNamespaces(ctx, t)
			require.NotEmpty(t, during, "the run's namespaces exist while it probes")

			out := cleanup("--dry-run", "--older-than=0")
			assert.Contains(t, out, "would delete run ")
			assert.Contains(t, out, "nothing was")
			assert.NotContains(t, out, impostor.Name)
			out = cleanup()
			assert.Contains(t, out, "left alone, younger than --older-than 15m0s")
			assert.Equal(t, during, suitekit.LeftNamespaces(ctx, t), "cleanup removed nothing of the run in progress")

			require.NoError(t, run.Wait(), "the run ends as if nobody had called cleanup")
			assert.Empty(t, suitekit.LeftNamespaces(ctx, t))
			cleanup("--older-than=0")
			_, err = cs.CoreV1().Namespaces().Get(ctx, impostor.Name, metav1.GetOptions{})
			assert.NoError(t, err, "a namespace someone else labelled as tenantcheck's is left alone")
			return ctx
		}).Feature()
	testenv.Test(t, f)
}
