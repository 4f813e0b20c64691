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
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

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
			clean := exec.CommandContext(ctx, bin, "cleanup", "--kubeconfig", cfg.KubeconfigFile(), "--timeout", "2m")
			out, err = clean.CombinedOutput()
			require.NoError(t, err, "%s", out)
			assert.Contains(t, string(out), "clean:")
			assert.Empty(t, suitekit.LeftNamespaces(ctx, t))
			return ctx
		}).Feature()
	testenv.Test(t, f)
}
