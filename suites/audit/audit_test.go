package audit

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/tenantcheck/tenantcheck/internal/baseline"
	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/internal/provision"
	"github.com/tenantcheck/tenantcheck/internal/spec"
	"github.com/tenantcheck/tenantcheck/suites/suitekit"
)

// suiteLabel marks the "real" tenants this suite sets up: they are not
// tenantcheck's, so no run ever deletes them; the suite does.
const suiteLabel = "tenantcheck.io/audit-suite"

// realTenants applies the guide's manifests to two tenant namespaces and a
// shared one, as a platform team would, and returns their spec.
func realTenants(ctx context.Context, t *testing.T, cs kubernetes.Interface) *spec.Spec {
	s := spec.Default()
	s.Tenants[0].Namespaces = []string{"audit-tenant-a"}
	s.Tenants[1].Namespaces = []string{"audit-tenant-b"}
	s.Shared[0].Namespace = "audit-ingress"
	require.NoError(t, s.Validate())
	version, err := suitekit.Client(ctx, t).ServerVersion(ctx)
	require.NoError(t, err)
	// Pinned as tenantcheck's namespace layer asks, so that layer holds too.
	plan, err := baseline.ForSpec(s, map[string]string{suiteLabel: "yes"}, baseline.PSAVersionOf(version))
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = provision.Cleanup(context.Background(), cs, suiteLabel+"=yes", 2*time.Minute) })
	require.NoError(t, provision.Create(ctx, cs, plan.List()))
	return s
}

// Must show 1: on the guide's manifests every layer holds; after one
// tenant's policy gains namespaceSelector: {}, exactly that path breaks. The
// audit changes nothing of the tenants and leaves nothing in them.
func TestAuditRealTenants(t *testing.T) {
	f := features.New("audit of tenants built from the guide").
		WithLabel("mode", "audit").WithLabel("check", "all").
		Assess("every layer holds, then exactly the opened path breaks", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			cs := suitekit.Client(ctx, t).Clientset
			s := realTenants(ctx, t, cs)
			opts := suitekit.Options(t)
			opts.Spec, opts.Mode = s, model.ModeAudit
			opts.Layers = []model.Layer{model.LayerNetwork, model.LayerPodSecurity, model.LayerQuota, model.LayerRBAC}

			rep := suitekit.Execute(ctx, t, opts)
			for id, v := range suitekit.Verdicts(rep) {
				assert.Equal(t, auditWant(id), v, id)
			}
			assert.Equal(t, model.ModeAudit, rep.Metadata.Mode)
			assertUntouched(ctx, t, cs)

			open := &networkingv1.NetworkPolicy{
				ObjectMeta: metav1.ObjectMeta{Name: "allow-from-everywhere", Namespace: "audit-tenant-a"},
				Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
					Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{}}}}}},
			}
			_, err := cs.NetworkingV1().NetworkPolicies("audit-tenant-a").Create(ctx, open, metav1.CreateOptions{})
			require.NoError(t, err)
			rep = suitekit.Execute(ctx, t, opts)
			for id, v := range suitekit.Verdicts(rep) {
				want := auditWant(id)
				if id == "network/other-namespace-ingress-denied" {
					want = model.VerdictBroken
				}
				assert.Equal(t, want, v, id)
			}
			for _, m := range rep.Matrices {
				var cells []string
				for _, c := range m.Mismatches() {
					cells = append(cells, c.From+">"+c.To)
				}
				assert.Equal(t, []string{"outsider>audit-tenant-a"}, cells, m.Name)
			}
			return ctx
		}).Feature()
	testenv.Test(t, f)
}

// auditWant: every check holds in an audit of the guide's tenants, but the
// pod-count check, which an audit skips rather than change a real quota.
func auditWant(id string) model.Verdict {
	switch id {
	case "quota/pod-count-limit-enforced", // an audit never changes a real quota
		"podsecurity/privileged-workload-blocked", // nor creates a privileged object in a real tenant
		"network/policy-blocks-cross-tenant":      // the guide's tenants run no workload to judge
		return model.VerdictSkipped
	}
	return model.VerdictHeld
}

// assertUntouched: after an audit the tenants hold exactly the guide's
// policies and no object of the run.
func assertUntouched(ctx context.Context, t *testing.T, cs kubernetes.Interface) {
	for _, ns := range []string{"audit-tenant-a", "audit-tenant-b", "audit-ingress"} {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		require.NoError(t, err)
		assert.Empty(t, pods.Items, "no probe pod left in %s", ns)
		svcs, err := cs.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
		require.NoError(t, err)
		assert.Empty(t, svcs.Items, "no service left in %s", ns)
	}
	for _, ns := range []string{"audit-tenant-a", "audit-tenant-b"} {
		pols, err := cs.NetworkingV1().NetworkPolicies(ns).List(ctx, metav1.ListOptions{})
		require.NoError(t, err)
		assert.Len(t, pols.Items, 3, "the guide's three policies, unchanged, in %s", ns)
	}
	assert.Empty(t, suitekit.LeftNamespaces(ctx, t), "the audit's own namespaces are gone")
}

// Discovery by label: two labelled tenants are found; one alone is refused
// with exit 2 and a line that says why.
func TestAuditDiscovery(t *testing.T) {
	f := features.New("audit discovers tenants by label").
		WithLabel("mode", "audit").WithLabel("check", "discovery").
		Assess("found by label; one tenant alone is refused", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			cs := suitekit.Client(ctx, t).Clientset
			realTenants(ctx, t, cs)
			bin := suitekit.BuildCLI(t)
			audit := func(label string) (int, string, string) {
				cmd := exec.Command(bin, "audit", "--kubeconfig", cfg.KubeconfigFile(), "--no-pods", "--discover-label", label, "-o", "json")
				cmd.Env = os.Environ()
				var out, errb bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &errb
				err := cmd.Run()
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					return ee.ExitCode(), out.String(), errb.String()
				}
				require.NoError(t, err)
				return 0, out.String(), errb.String()
			}
			code, out, errs := audit(spec.DefaultTenantLabel)
			require.Equal(t, 0, code, errs)
			rep, err := model.DecodeReport(strings.NewReader(out))
			require.NoError(t, err)
			assert.Equal(t, []string{"tenant-a", "tenant-b"}, rep.Metadata.Tenants)
			for id, v := range suitekit.Verdicts(rep) {
				assert.NotEqual(t, model.LayerNetwork, model.Layer(strings.Split(id, "/")[0]), "--no-pods runs no network check")
				if !strings.HasPrefix(id, "flux/") {
					assert.Equal(t, auditWant(id), v, id)
				}
			}

			_, err = cs.CoreV1().Namespaces().Patch(ctx, "audit-tenant-b", "application/merge-patch+json",
				[]byte(`{"metadata":{"labels":{"`+spec.DefaultTenantLabel+`":null}}}`), metav1.PatchOptions{})
			require.NoError(t, err)
			code, _, errs = audit(spec.DefaultTenantLabel)
			assert.Equal(t, 2, code)
			assert.Contains(t, errs, "only one tenant (tenant-a)")
			code, _, errs = audit("tenantcheck.io/no-such-label")
			assert.Equal(t, 2, code)
			assert.Contains(t, errs, "no namespace carries the label tenantcheck.io/no-such-label")
			return ctx
		}).Feature()
	testenv.Test(t, f)
}

// Issue 11, the static half: tenants that run their own workloads (their own
// labels and ports, one UDP). On the guide's policies the static check
// holds; a policy that opens tenant-b's api on its gRPC port to every
// namespace breaks it, naming the workload, the port and the policy; and a
// policy written around tenantcheck's labels is reported.
func TestAuditJudgesTenantsWorkloads(t *testing.T) {
	f := features.New("audit of tenants running their own workloads").
		WithLabel("mode", "audit").WithLabel("check", "policy-blocks-cross-tenant").
		Assess("the static check names the opened workload, port and policy", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			cs := suitekit.Client(ctx, t).Clientset
			s := realTenants(ctx, t, cs)
			require.NoError(t, suitekit.ApplyFixtureTo(ctx, t, "shop-workloads", "audit-tenant-a", "audit-tenant-b"))
			opts := suitekit.Options(t)
			opts.Spec, opts.Mode = s, model.ModeAudit
			opts.Layers = []model.Layer{model.LayerNetwork}
			result := func(rep *model.Report, id string) model.Result {
				for _, r := range rep.Results {
					if r.CheckID == id {
						return r
					}
				}
				t.Fatalf("no result %s", id)
				return model.Result{}
			}

			rep := suitekit.Execute(ctx, t, opts)
			static := result(rep, "network/policy-blocks-cross-tenant")
			assert.Equal(t, model.VerdictHeld, static.Verdict, static.Reason)
			assert.Contains(t, static.Reason, "4 workload shape(s)")
			assert.Equal(t, model.VerdictHeld, result(rep, "network/policy-ignores-tenantcheck").Verdict)

			tcp := corev1.ProtocolTCP
			grpc := intstr.FromString("grpc")
			open := &networkingv1.NetworkPolicy{
				ObjectMeta: metav1.ObjectMeta{Name: "api-from-anywhere", Namespace: "audit-tenant-b"},
				Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "api"}},
					PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
					Ingress: []networkingv1.NetworkPolicyIngressRule{{
						From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{},
							// Written so that tenantcheck's probes are not let in.
							PodSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
								{Key: "tenantcheck.io/probe", Operator: metav1.LabelSelectorOpDoesNotExist}}}}},
						Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &grpc}}}}},
			}
			_, err := cs.NetworkingV1().NetworkPolicies("audit-tenant-b").Create(ctx, open, metav1.CreateOptions{})
			require.NoError(t, err)
			rep = suitekit.Execute(ctx, t, opts)
			static = result(rep, "network/policy-blocks-cross-tenant")
			assert.Equal(t, model.VerdictBroken, static.Verdict)
			assert.Contains(t, static.Reason, "-> audit-tenant-b/{app=api,tier=backend} (1 pod(s), e.g. api-0) port 9090/TCP: ingress allowed by audit-tenant-b/api-from-anywhere")
			assert.NotContains(t, static.Reason, "app=web")
			gamed := result(rep, "network/policy-ignores-tenantcheck")
			assert.Equal(t, model.VerdictBroken, gamed.Verdict)
			assert.Contains(t, gamed.Reason, "NetworkPolicy audit-tenant-b/api-from-anywhere selects on tenantcheck.io/probe")

			require.NoError(t, cs.NetworkingV1().NetworkPolicies("audit-tenant-b").Delete(ctx, open.Name, metav1.DeleteOptions{}))
			rep = suitekit.Execute(ctx, t, opts)
			assert.Equal(t, model.VerdictHeld, result(rep, "network/policy-blocks-cross-tenant").Verdict)
			return ctx
		}).Feature()
	testenv.Test(t, f)
}
