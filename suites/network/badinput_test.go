package network

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/tenantcheck/tenantcheck/internal/baseline"
	"github.com/tenantcheck/tenantcheck/internal/kube"
	"github.com/tenantcheck/tenantcheck/internal/provision"
	"github.com/tenantcheck/tenantcheck/suites/suitekit"
)

// A user without the rights a run needs gets one line naming the missing
// verbs and resources, exit code 2, and nothing is created.
func TestMissingPermissionIsNamed(t *testing.T) {
	f := features.New("missing permission is named").
		WithLabel("layer", "network").WithLabel("check", "preflight").
		Assess("a user with no rights is told what it lacks", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			c := suitekit.Client(ctx, t)
			cs := c.Clientset
			ns := "tc-preflight-nobody"
			labels := baseline.OwnershipLabels("preflight")
			_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: labels}}, metav1.CreateOptions{})
			require.NoError(t, err)
			t.Cleanup(func() {
				_, _ = provision.Cleanup(context.Background(), cs, provision.Selector("preflight"), time.Minute)
			})
			path := tokenKubeconfig(ctx, t, c, ns, t.TempDir())

			before := suitekit.LeftNamespaces(ctx, t)
			cmd := exec.Command(suitekit.BuildCLI(t), "run", "--kubeconfig", path)
			cmd.Env = os.Environ()
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err = cmd.Run()
			var ee *exec.ExitError
			require.True(t, errors.As(err, &ee), "run as a user without rights must fail: %v", err)
			assert.Equal(t, 2, ee.ExitCode())
			assert.Empty(t, stdout.String(), "no report when the run could not be done")
			msg := strings.TrimSpace(stderr.String())
			assert.Contains(t, msg, "missing permission")
			assert.Contains(t, msg, "create namespaces")
			assert.Equal(t, 1, strings.Count(msg, "\n")+1, "one line: %q", msg)
			assert.Equal(t, before, suitekit.LeftNamespaces(ctx, t), "nothing was created")
			return ctx
		}).Feature()
	testenv.Test(t, f)
}

func caData(t *testing.T, data []byte, file string) []byte {
	if len(data) > 0 {
		return data
	}
	b, err := os.ReadFile(file)
	require.NoError(t, err, "read the cluster CA")
	return b
}

// Must show 3 of the seam: a runner that has everything deploy/ grants but
// one permission a selected layer needs is told, before anything is
// created, which verb on which resource it lacks.
func TestMissingLayerPermissionIsNamed(t *testing.T) {
	cases := []struct {
		name, want string
		layers     string
		drop       func(rbacv1.PolicyRule) rbacv1.PolicyRule
	}{
		{"no serviceaccounts/token", `may not create serviceaccounts/token`, "quota,rbac",
			func(r rbacv1.PolicyRule) rbacv1.PolicyRule {
				if slices.Contains(r.Resources, "serviceaccounts/token") {
					r.Verbs = nil
				}
				return r
			}},
		{"no admission policy read", `may not get validatingadmissionpolicies.admissionregistration.k8s.io`, "podsecurity",
			func(r rbacv1.PolicyRule) rbacv1.PolicyRule {
				if slices.Contains(r.Resources, "validatingadmissionpolicies") {
					r.Verbs = nil
				}
				return r
			}},
	}
	f := features.New("a missing permission of a selected layer is named").
		WithLabel("layer", "all").WithLabel("check", "preflight")
	for _, tc := range cases {
		f = f.Assess(tc.name, func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			c := suitekit.Client(ctx, t)
			var rules []rbacv1.PolicyRule
			for _, r := range suitekit.DeployClusterRole(t).Rules {
				if r = tc.drop(r); len(r.Verbs) > 0 {
					rules = append(rules, r)
				}
			}
			path, tenants := runnerWith(ctx, t, c, rules)
			before := suitekit.LeftNamespaces(ctx, t)
			cmd := exec.Command(suitekit.BuildCLI(t), "audit", "--kubeconfig", path, "--spec", tenants, "--layers", tc.layers)
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			require.True(t, errors.As(err, &ee), "a run that lacks a permission must fail: %v\n%s", err, stderr.String())
			assert.Equal(t, 2, ee.ExitCode())
			assert.Empty(t, stdout.String(), "no report when the run could not be done")
			msg := strings.TrimSpace(stderr.String())
			assert.Equal(t, "tenantcheck: missing permission: the kubeconfig's user "+tc.want, msg)
			assert.Equal(t, before, suitekit.LeftNamespaces(ctx, t), "nothing was created")
			return ctx
		})
	}
	testenv.Test(t, f.Feature())
}

// runnerWith creates a service account bound to a ClusterRole of rules and
// two tenant namespaces to audit, and returns a kubeconfig that acts as the
// account (a real token) and a spec naming the tenants. All of it goes with
// the test.
func runnerWith(ctx context.Context, t *testing.T, c *kube.Client, rules []rbacv1.PolicyRule) (string, string) {
	t.Helper()
	cs := c.Clientset
	labels := baseline.OwnershipLabels("preflight")
	name := "tc-preflight-" + strings.ToLower(strings.ReplaceAll(t.Name()[strings.LastIndex(t.Name(), "/")+1:], "_", "-"))
	name = name[:min(len(name), 40)]
	t.Cleanup(func() {
		bg := context.Background()
		_ = cs.RbacV1().ClusterRoleBindings().Delete(bg, name, metav1.DeleteOptions{})
		_ = cs.RbacV1().ClusterRoles().Delete(bg, name, metav1.DeleteOptions{})
		_, _ = provision.Cleanup(bg, cs, provision.Selector("preflight"), time.Minute)
	})
	for _, ns := range []string{name, name + "-a", name + "-b"} {
		_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: labels}}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	_, err := cs.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: name},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "default", Namespace: name}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	dir := t.TempDir()
	path := tokenKubeconfig(ctx, t, c, name, dir)
	spec := fmt.Sprintf("apiVersion: tenantcheck.io/v1alpha1\nkind: TenancySpec\ntenants:\n- name: tenant-a\n  namespaces: [%s-a]\n- name: tenant-b\n  namespaces: [%s-b]\n", name, name)
	specPath := filepath.Join(dir, "spec.yaml")
	require.NoError(t, os.WriteFile(specPath, []byte(spec), 0o644))
	return path, specPath
}

// tokenKubeconfig writes, into dir, a kubeconfig that acts as the default
// service account of ns with a real, short-lived token.
func tokenKubeconfig(ctx context.Context, t *testing.T, c *kube.Client, ns, dir string) string {
	t.Helper()
	require.NoError(t, provision.WaitServiceAccount(ctx, c.Clientset, ns, time.Minute))
	exp := int64(600)
	tok, err := c.Clientset.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "default",
		&authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: &exp}}, metav1.CreateOptions{})
	require.NoError(t, err)
	kc := clientcmdapi.NewConfig()
	kc.Clusters["c"] = &clientcmdapi.Cluster{Server: c.Config.Host, CertificateAuthorityData: caData(t, c.Config.CAData, c.Config.CAFile)}
	kc.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: tok.Status.Token}
	kc.Contexts["sa"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	kc.CurrentContext = "sa"
	path := filepath.Join(dir, ns+".kubeconfig")
	require.NoError(t, clientcmd.WriteToFile(*kc, path))
	return path
}
