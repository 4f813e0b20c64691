package audit

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/suites/suitekit"
)

// networkPolicyAPI is the release whose ClusterNetworkPolicy CRD the suite
// installs, from the Go module proxy (no implementation enforces it here:
// the audit only lists such policies).
const networkPolicyAPI = "sigs.k8s.io/network-policy-api@v0.3.0"

// Issue 11: where the cluster serves the admin-tier ClusterNetworkPolicy,
// the audit lists each (read-only) beside the static check, which does not
// evaluate them; where it does not, nothing is said.
func TestAuditListsAdminTierPolicies(t *testing.T) {
	f := features.New("admin-tier policies are listed").
		WithLabel("mode", "audit").WithLabel("check", "policy-blocks-cross-tenant").
		Assess("a ClusterNetworkPolicy is named in the static check", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			cs := suitekit.Client(ctx, t).Clientset
			s := realTenants(ctx, t, cs)
			opts := suitekit.Options(t)
			opts.Spec, opts.Mode = s, model.ModeAudit
			opts.Layers = []model.Layer{model.LayerNetwork}
			static := func() model.Result {
				for _, r := range suitekit.Execute(ctx, t, opts).Results {
					if r.CheckID == "network/policy-blocks-cross-tenant" {
						return r
					}
				}
				t.Fatal("no static result")
				return model.Result{}
			}
			assert.NotContains(t, static().Reason, "ClusterNetworkPolicy", "not served: nothing said")

			kubectl := func(stdin string, args ...string) {
				t.Helper()
				cmd := exec.CommandContext(ctx, "kubectl", append([]string{"--kubeconfig", cfg.KubeconfigFile()}, args...)...)
				cmd.Stdin = strings.NewReader(stdin)
				out, err := cmd.CombinedOutput()
				require.NoError(t, err, "kubectl %s: %s", strings.Join(args, " "), out)
			}
			crd := crdFile(t)
			kubectl("", "apply", "--server-side", "-f", crd)
			t.Cleanup(func() {
				_ = exec.Command("kubectl", "--kubeconfig", cfg.KubeconfigFile(), "delete", "--ignore-not-found", "-f", crd).Run()
			})
			kubectl("", "wait", "--for", "condition=Established", "--timeout", "60s", "crd/clusternetworkpolicies.policy.networking.k8s.io")
			require.Eventually(t, func() bool {
				return exec.Command("kubectl", "--kubeconfig", cfg.KubeconfigFile(), "get", "clusternetworkpolicies").Run() == nil
			}, 30*time.Second, time.Second, "the API server serves the CRD")
			kubectl(`apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata:
  name: tc-suite-sensitive-deny
spec:
  tier: Admin
  priority: 10
  subject:
    namespaces:
      matchLabels:
        kubernetes.io/metadata.name: audit-tenant-b
  ingress:
  - action: Deny
    name: deny-from-everywhere
    from:
    - namespaces: {}
`, "apply", "-f", "-")

			r := static()
			assert.Contains(t, r.Reason, "1 admin-tier ClusterNetworkPolicy(ies), not evaluated here")
			assert.Contains(t, r.Reason, "tc-suite-sensitive-deny (Admin 10)")
			var raw []string
			for _, e := range r.Evidence {
				raw = append(raw, e.Raw)
			}
			assert.Contains(t, raw, "ClusterNetworkPolicy tc-suite-sensitive-deny: tier Admin, priority 10, subject {namespaces={matchLabels={kubernetes.io/metadata.name=audit-tenant-b}}}, rules: ingress Deny deny-from-everywhere")
			return ctx
		}).Feature()
	testenv.Test(t, f)
}

// crdFile is the ClusterNetworkPolicy CRD of networkPolicyAPI, fetched into
// the module cache.
func crdFile(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("go", "mod", "download", "-json", networkPolicyAPI)
	cmd.Dir = suitekit.RepoRoot()
	out, err := cmd.Output()
	require.NoError(t, err, "go mod download %s", networkPolicyAPI)
	var mod struct{ Dir string }
	require.NoError(t, json.Unmarshal(out, &mod))
	return filepath.Join(mod.Dir, "config", "crd", "standard", "policy.networking.k8s.io_clusternetworkpolicies.yaml")
}
