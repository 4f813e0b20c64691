package audit

import (
	"bytes"
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
	"go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/tenantcheck/tenantcheck/internal/baseline"
	"github.com/tenantcheck/tenantcheck/internal/layers/flux"
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
func realTenants(ctx context.Context, t *testing.T, cs kubernetes.Interface, edits ...func(*spec.Spec)) *spec.Spec {
	s := spec.Default()
	s.Tenants[0].Namespaces = []string{"audit-tenant-a"}
	s.Tenants[1].Namespaces = []string{"audit-tenant-b"}
	s.Shared[0].Namespace = "audit-ingress"
	for _, e := range edits {
		e(s)
	}
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
			opts.Layers = []model.Layer{model.LayerNetwork, model.LayerPodSecurity, model.LayerQuota, model.LayerRBAC, model.LayerFlux}
			opts.FluxLive = true // the opt-in whose footprint the snapshot below proves undone

			before := snapshot(ctx, t, "audit-tenant-a", "audit-tenant-b", "audit-ingress")
			rep := suitekit.Execute(ctx, t, opts)
			for id, v := range suitekit.Verdicts(rep) {
				if !strings.HasPrefix(id, "flux/") {
					assert.Equal(t, auditWant(id), v, id)
				}
			}
			for _, r := range rep.Results {
				assert.NotEqual(t, flux.NotOptedIn, r.Reason, "%s: --flux-live ran the live checks", r.CheckID)
			}
			assert.Equal(t, model.ModeAudit, rep.Metadata.Mode)
			assertUntouched(ctx, t, cs)
			assert.Equal(t, before, snapshot(ctx, t, "audit-tenant-a", "audit-tenant-b", "audit-ingress"),
				"every layer, Flux's live checks included, leaves every object of the audited namespaces exactly as it was (issue 13, must show 2)")
			opts.Layers = opts.Layers[:4]

			openTenantA(ctx, t, cs)
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
		"network/policy-blocks-cross-tenant",      // the guide's tenants run no workload to judge
		"network/workloads-isolated":              // nor to mimic
		return model.VerdictSkipped
	}
	return model.VerdictHeld
}

// specFile writes s where the CLI can read it.
func specFile(t *testing.T, s *spec.Spec) string {
	t.Helper()
	data, err := yaml.Marshal(s)
	require.NoError(t, err)
	f := filepath.Join(t.TempDir(), "spec.yaml")
	require.NoError(t, os.WriteFile(f, data, 0o600))
	return f
}

// openTenantA gives tenant-a a policy that admits every namespace.
func openTenantA(ctx context.Context, t *testing.T, cs kubernetes.Interface) {
	t.Helper()
	open := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "allow-from-everywhere", Namespace: "audit-tenant-a"},
		Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{}}}}}},
	}
	_, err := cs.NetworkingV1().NetworkPolicies("audit-tenant-a").Create(ctx, open, metav1.CreateOptions{})
	require.NoError(t, err)
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

// Issue 11: tenants that run their own workloads (three shapes each, their
// own labels and ports, one UDP, none on tenantcheck's 8080 only), tenant-b
// admitting the shared ingress to its app=web pods only (and declaring 8080
// its one ingress port), tenant-a declared to call a shared Vault namespace
// and tenant-b calling it undeclared.
//   - On the guide's policies the static and live workload checks hold, the
//     shared ingress holds through the web workload, and only tenant-b's
//     egress to the Vault namespace breaks.
//   - A policy that opens tenant-b's api on its gRPC port to every namespace,
//     written so that tenantcheck's probes are not let in, breaks both the
//     static and the live check, naming workload, port and policy.
//   - Removed, both hold again.
//
// Throughout, the mimics are never ready endpoints of the api Service (the
// EndpointSlice lists the api mimic, not ready), never adopted by the api
// ReplicaSet, and gone after each run.
func TestAuditJudgesTenantsWorkloads(t *testing.T) {
	f := features.New("audit of tenants running their own workloads").
		WithLabel("mode", "audit").WithLabel("check", "workloads-isolated").
		Assess("static and live name the opened workload, port and policy", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			cs := suitekit.Client(ctx, t).Clientset
			s := realTenants(ctx, t, cs, func(s *spec.Spec) {
				s.Shared = append(s.Shared, spec.Shared{Namespace: "audit-vault", AllowedFrom: []string{"tenant-a"}})
				s.Tenants[1].IngressPorts = []string{"8080"} // the ingress serves tenant-b's web, nothing else
			})
			require.NoError(t, suitekit.ApplyFixtureTo(ctx, t, "shop-workloads", "audit-tenant-a", "audit-tenant-b"))
			webOnly(ctx, t, cs)
			tcp := corev1.ProtocolTCP
			egress := &networkingv1.NetworkPolicy{
				ObjectMeta: metav1.ObjectMeta{Name: "egress-to-vault", Namespace: "audit-tenant-b"},
				Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
					Egress: []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{
						MatchLabels: map[string]string{corev1.LabelMetadataName: "audit-vault"}}}}}}},
			}
			_, err := cs.NetworkingV1().NetworkPolicies("audit-tenant-b").Create(ctx, egress, metav1.CreateOptions{})
			require.NoError(t, err)
			apiPods := waitWorkloads(ctx, t, cs)

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
			run := func() *model.Report {
				w := watchMimics(ctx, t, cs)
				rep := suitekit.Execute(ctx, t, opts)
				w.stop(t, cs, apiPods)
				for _, r := range rep.Results {
					t.Logf("%s: %s: %s", r.CheckID, r.Verdict, r.Reason)
				}
				return rep
			}

			before := snapshot(ctx, t, "audit-tenant-a", "audit-tenant-b", "audit-ingress", "audit-vault")
			rep := run()
			assert.Equal(t, before, snapshot(ctx, t, "audit-tenant-a", "audit-tenant-b", "audit-ingress", "audit-vault"),
				"the audit leaves every object of the audited namespaces exactly as it was (issue 13, must show 2)")
			static := result(rep, "network/policy-blocks-cross-tenant")
			assert.Equal(t, model.VerdictHeld, static.Verdict, static.Reason)
			assert.Contains(t, static.Reason, "6 workload shape(s)")
			assert.Empty(t, rep.WorkloadPaths, "nothing open to a workload")
			live := result(rep, "network/workloads-isolated")
			assert.Equal(t, model.VerdictHeld, live.Verdict, live.Reason)
			assert.NotContains(t, live.Reason, "not tested live")
			targets := map[string]bool{}
			for _, e := range live.Evidence {
				targets[e.To] = true
			}
			assert.Len(t, targets, 5, "every shape with a port is a target: api, web, statsd, resolver, portal (%v)", targets)
			assert.True(t, slices.ContainsFunc(live.Evidence, func(e model.Evidence) bool {
				return strings.HasPrefix(e.Action, "UDP/8125 via pod IP") && strings.Contains(e.Action, "policy: blocked")
			}), "statsd's real UDP port, with what policy says of it")
			ingress := result(rep, "network/shared-ingress-allowed")
			assert.Equal(t, model.VerdictHeld, ingress.Verdict, "the ingress reaches tenant-b's web pods: %s", ingress.Reason)
			assert.Contains(t, ingress.Reason, "audit-tenant-b/{app=web,tier=front} TCP/8080 via pod IP reached", "the probe server is refused, the web workload served")
			egressResult := result(rep, "network/tenant-egress-denied")
			assert.Equal(t, model.VerdictBroken, egressResult.Verdict, egressResult.Reason)
			for _, e := range egressResult.Evidence {
				if e.Verdict == model.VerdictBroken {
					assert.True(t, strings.HasPrefix(e.From, "audit-tenant-b/"), "only the undeclared tenant breaks: %s -> %s", e.From, e.To)
					assert.True(t, strings.HasPrefix(e.To, "audit-vault/"), "only on the Vault namespace: %s", e.To)
				}
			}

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
			_, err = cs.NetworkingV1().NetworkPolicies("audit-tenant-b").Create(ctx, open, metav1.CreateOptions{})
			require.NoError(t, err)
			rep = run()
			static = result(rep, "network/policy-blocks-cross-tenant")
			assert.Equal(t, model.VerdictBroken, static.Verdict)
			assert.Contains(t, static.Reason, "-> audit-tenant-b/{app=api,tier=backend} (1 pod(s), e.g. api-")
			assert.Contains(t, static.Reason, "port 9090/TCP: ingress allowed by audit-tenant-b/api-from-anywhere")
			assert.NotContains(t, static.Reason, "app=web")
			gamed := result(rep, "network/policy-ignores-tenantcheck")
			assert.Equal(t, model.VerdictBroken, gamed.Verdict)
			assert.Contains(t, gamed.Reason, "NetworkPolicy audit-tenant-b/api-from-anywhere selects on tenantcheck.io/probe")
			live = result(rep, "network/workloads-isolated")
			assert.Equal(t, model.VerdictBroken, live.Verdict, "the live probe is not fooled: %s", live.Reason)
			assert.Contains(t, live.Reason, "3 of ", "from the namespace of no tenant, the Vault namespace, and the ingress: 9090 is no ingress port of tenant-b")
			assert.Contains(t, live.Reason, "-> audit-tenant-b/{app=api,tier=backend} TCP/9090 via pod IP: allowed, expected blocked")
			assert.Contains(t, live.Reason, "policy: allowed (ingress allowed by audit-tenant-b/api-from-anywhere")
			assert.NotContains(t, live.Reason, "the CNI does not enforce it")
			require.Len(t, rep.WorkloadPaths, 3, "the report lists the open paths, static and live as one: %+v", rep.WorkloadPaths)
			var from []string
			for _, wp := range rep.WorkloadPaths {
				from = append(from, wp.From)
				assert.Equal(t, "audit-tenant-b/{app=api,tier=backend}", wp.To)
				assert.Equal(t, []any{9090, model.ProtocolTCP, model.ReachBlocked, model.ReachAllowed, model.ReachAllowed},
					[]any{wp.Port, wp.Protocol, wp.Intended, wp.Policy, wp.Dataplane})
				assert.Contains(t, wp.PolicyWhy, "ingress allowed by audit-tenant-b/api-from-anywhere")
			}
			assert.ElementsMatch(t, []string{"(a namespace of no tenant)/(a new pod without labels)", "audit-vault/(a new pod without labels)",
				"audit-ingress/(a new pod without labels)"}, from,
				"a new pod in a namespace of no tenant, one in the shared namespace not allowed to tenant-b, one in the ingress, allowed on 8080 only")
			for _, e := range live.Evidence {
				if e.Verdict == model.VerdictBroken {
					assert.Equal(t, "audit-tenant-b/tc-mimic-", e.To[:len("audit-tenant-b/tc-mimic-")], "only the api breaks: %s", e.To)
					assert.True(t, strings.HasPrefix(e.Action, "TCP/9090"), e.Action)
				}
			}

			require.NoError(t, cs.NetworkingV1().NetworkPolicies("audit-tenant-b").Delete(ctx, open.Name, metav1.DeleteOptions{}))
			rep = run()
			assert.Equal(t, model.VerdictHeld, result(rep, "network/policy-blocks-cross-tenant").Verdict)
			live = result(rep, "network/workloads-isolated")
			assert.Equal(t, model.VerdictHeld, live.Verdict, live.Reason)
			return ctx
		}).Feature()
	testenv.Test(t, f)
}

// webOnly replaces tenant-b's guide policy admitting the shared ingress to
// its part-of pods with one admitting it to the app=web pods only.
func webOnly(ctx context.Context, t *testing.T, cs kubernetes.Interface) {
	t.Helper()
	require.NoError(t, cs.NetworkingV1().NetworkPolicies("audit-tenant-b").Delete(ctx, baseline.PolicyAllowFromShared, metav1.DeleteOptions{}))
	web := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "ingress-to-web", Namespace: "audit-tenant-b"},
		Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{corev1.LabelMetadataName: "audit-ingress"}}}}}}},
	}
	_, err := cs.NetworkingV1().NetworkPolicies("audit-tenant-b").Create(ctx, web, metav1.CreateOptions{})
	require.NoError(t, err)
}

// waitWorkloads waits until the fixture's six pods run and returns the api
// Deployment's pod names.
func waitWorkloads(ctx context.Context, t *testing.T, cs kubernetes.Interface) []string {
	t.Helper()
	var api []string
	require.Eventually(t, func() bool {
		api = nil
		running := 0
		for _, ns := range []string{"audit-tenant-a", "audit-tenant-b"} {
			pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false
			}
			for _, p := range pods.Items {
				if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
					running++
					if p.Labels["app"] == "api" {
						api = append(api, p.Name)
					}
				}
			}
		}
		return running == 6 && len(api) == 1
	}, 2*time.Minute, time.Second, "the fixture's pods run")
	return api
}

// mimicWatch polls, while a run goes on, what the mimics must never do:
// be a ready or serving endpoint of the api Service, or be adopted by the
// api ReplicaSet (whose replica count must stay 1).
type mimicWatch struct {
	cancel  context.CancelFunc
	done    chan struct{}
	listed  bool     // the api mimic was seen in the EndpointSlice (not ready)
	wrong   []string // what must never happen, as seen
	mimicks int      // most mimics seen at once in the tenants
}

func watchMimics(ctx context.Context, t *testing.T, cs kubernetes.Interface) *mimicWatch {
	ctx, cancel := context.WithCancel(ctx)
	w := &mimicWatch{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for ctx.Err() == nil {
			w.look(ctx, cs)
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	return w
}

func (w *mimicWatch) look(ctx context.Context, cs kubernetes.Interface) {
	eps, err := cs.DiscoveryV1().EndpointSlices("audit-tenant-b").List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=api"})
	if err == nil {
		for _, sl := range eps.Items {
			for _, ep := range sl.Endpoints {
				if ep.TargetRef == nil || !strings.HasPrefix(ep.TargetRef.Name, "tc-mimic-") {
					continue
				}
				w.listed = true
				if (ep.Conditions.Ready != nil && *ep.Conditions.Ready) || (ep.Conditions.Serving != nil && *ep.Conditions.Serving) {
					w.wrong = append(w.wrong, "mimic "+ep.TargetRef.Name+" is a ready or serving endpoint of Service api")
				}
			}
		}
	}
	rss, err := cs.AppsV1().ReplicaSets("audit-tenant-b").List(ctx, metav1.ListOptions{LabelSelector: "app=api"})
	if err == nil {
		for _, rs := range rss.Items {
			if rs.Status.Replicas != 1 {
				w.wrong = append(w.wrong, fmt.Sprintf("ReplicaSet %s counts %d replicas", rs.Name, rs.Status.Replicas))
			}
		}
	}
	n := 0
	for _, ns := range []string{"audit-tenant-a", "audit-tenant-b"} {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			continue
		}
		for _, p := range pods.Items {
			if !strings.HasPrefix(p.Name, "tc-mimic-") {
				continue
			}
			n++
			for _, o := range p.OwnerReferences {
				if o.Kind != "Service" {
					w.wrong = append(w.wrong, fmt.Sprintf("mimic %s/%s is owned by %s %s", ns, p.Name, o.Kind, o.Name))
				}
			}
		}
	}
	w.mimicks = max(w.mimicks, n)
}

// stop ends the watch and asserts what it saw, and that the mimics are gone
// and the api Deployment kept its own pods.
func (w *mimicWatch) stop(t *testing.T, cs kubernetes.Interface, apiPods []string) {
	t.Helper()
	w.cancel()
	<-w.done
	assert.Empty(t, w.wrong)
	assert.True(t, w.listed, "the api mimic was listed (not ready) in the api Service's EndpointSlice: the watch saw the mimics")
	assert.GreaterOrEqual(t, w.mimicks, 8, "three shapes and a pod without labels per tenant were mimicked")
	assertNoRunPods(context.Background(), t, cs, apiPods)
}

// assertNoRunPods: no pod of a run is left in the audited tenants, and the
// api Deployment kept its own pods.
func assertNoRunPods(ctx context.Context, t *testing.T, cs kubernetes.Interface, apiPods []string) {
	t.Helper()
	var api []string
	for _, ns := range []string{"audit-tenant-a", "audit-tenant-b"} {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		require.NoError(t, err)
		for _, p := range pods.Items {
			assert.False(t, strings.HasPrefix(p.Name, "tc-"), "no pod of the run is left: %s/%s", ns, p.Name)
			if p.Labels["app"] == "api" {
				api = append(api, p.Name)
			}
		}
	}
	assert.Equal(t, apiPods, api, "the api Deployment's pods are unchanged")
}
