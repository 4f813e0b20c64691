package audit

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/suites/suitekit"
)

// Issue 14, must show 4: installed as kubectl-tenantcheck on PATH, the
// binary is `kubectl tenantcheck`: kubectl lists it, runs its version, and
// an audit with kubectl's --kubeconfig before the command reaches the
// cluster.
func TestKubectlPlugin(t *testing.T) {
	f := features.New("kubectl plugin").
		WithLabel("mode", "audit").WithLabel("check", "kubectl-plugin").
		Assess("kubectl tenantcheck version, and an audit through kubectl", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			kubectl, err := exec.LookPath("kubectl")
			require.NoError(t, err, "kubectl on PATH (the local cluster's, or the platform's)")
			data, err := os.ReadFile(suitekit.BuildCLI(t))
			require.NoError(t, err)
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, "kubectl-tenantcheck"), data, 0o755))
			env := append(os.Environ(), "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"))
			run := func(args ...string) string {
				t.Helper()
				cmd := exec.CommandContext(ctx, kubectl, args...)
				cmd.Env = env
				out, err := cmd.CombinedOutput()
				require.NoError(t, err, "kubectl %s: %s", strings.Join(args, " "), out)
				return string(out)
			}
			assert.Contains(t, run("plugin", "list"), filepath.Join(dir, "kubectl-tenantcheck"))
			assert.Regexp(t, `^tenantcheck \S+\n$`, run("tenantcheck", "version"))
			assert.Contains(t, run("tenantcheck", "--help"), "kubectl tenantcheck audit [flags]")

			cs := suitekit.Client(ctx, t).Clientset
			specPath := specFile(t, realTenants(ctx, t, cs))
			// -o json: stdout is the report and nothing else; --summary goes to stderr.
			cmd := exec.CommandContext(ctx, kubectl, "tenantcheck", "--kubeconfig", cfg.KubeconfigFile(), "audit", "--spec", specPath,
				"--layers", "rbac", "--no-pods", "-o", "json", "--summary")
			cmd.Env = env
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			require.NoError(t, cmd.Run(), stderr.String())
			rep, err := model.DecodeReport(&stdout)
			require.NoError(t, err, "stdout decodes as one report, strictly, with nothing after it")
			assert.Equal(t, model.VerdictHeld, rep.Layers[0].Verdict)
			assert.Regexp(t, `(?m)^rbac\s+Held\s+held \d+, broken 0, error 0, skipped 0$`, stderr.String())
			assert.Contains(t, stderr.String(), "RESULT: all layers hold")

			// kubectl's -n, before or after the command: only the namespaces named,
			// their tenants found by the label (no --spec).
			out := run("tenantcheck", "--kubeconfig", cfg.KubeconfigFile(), "-n", "audit-tenant-a", "audit", "-n", "audit-tenant-b",
				"--layers", "rbac", "--no-pods", "-o", "json")
			assert.Contains(t, out, `"tenants": [`)
			assert.Contains(t, out, "RESULT: all layers hold")
			assert.NotContains(t, out, "audit-ingress", "the shared namespace was not named")

			// Sonobuoy's protocol (deploy/sonobuoy): the JUnit report, then its path in the done file.
			junit, done := filepath.Join(dir, "tenantcheck.junit.xml"), filepath.Join(dir, "done")
			run("tenantcheck", "--kubeconfig", cfg.KubeconfigFile(), "audit", "--spec", specPath, "--layers", "rbac", "--no-pods",
				"-o", "junit", "--output-file", junit, "--done-file", done)
			got, err := os.ReadFile(done)
			require.NoError(t, err)
			assert.Equal(t, junit, string(got))
			xml, err := os.ReadFile(junit)
			require.NoError(t, err)
			assert.Contains(t, string(xml), "<testsuites")
			return ctx
		}).Feature()
	testenv.Test(t, f)
}
