package network

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/tenantcheck/tenantcheck/internal/baseline"
	"github.com/tenantcheck/tenantcheck/internal/kube"
	"github.com/tenantcheck/tenantcheck/internal/layer"
	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/internal/netpol"
	"github.com/tenantcheck/tenantcheck/probes"
)

var (
	grpcPort = corev1.ContainerPort{Name: "grpc", ContainerPort: 9090, Protocol: corev1.ProtocolTCP}
	dnsPort  = corev1.ContainerPort{Name: "dns", ContainerPort: 5353, Protocol: corev1.ProtocolUDP}
)

func mimicAt(peer Peer, i int, ip string, lbls map[string]string, ports ...corev1.ContainerPort) Mimic {
	return Mimic{Peer: peer, Shape: netpol.Shape{Namespace: peer.Namespace, Labels: lbls, Ports: ports}, Labels: lbls,
		Pod: Pod{Namespace: peer.Namespace, Name: MimicName(i), IP: ip, Labels: lbls}}
}

// mimicTopology is testTopology whose tenants run workloads under the
// guide's policies: tenant-a a UDP resolver on 5353, tenant-b an api on
// its named gRPC port 9090; each namespace has its blank mimic too.
func mimicTopology(t *testing.T) *Topology {
	top := testTopology()
	a, b := top.Peers[0], top.Peers[1]
	top.Mimics = []Mimic{
		mimicAt(a, 0, "10.244.1.10", map[string]string{}),
		mimicAt(a, 1, "10.244.1.11", map[string]string{"app": "resolver"}, dnsPort),
		mimicAt(b, 0, "10.244.1.20", map[string]string{}),
		mimicAt(b, 1, "10.244.1.21", map[string]string{"app": "api", "tier": "backend"}, grpcPort),
	}
	top.NamespaceLabels = map[string]map[string]string{}
	for _, p := range top.Peers {
		top.NamespaceLabels[p.Namespace] = map[string]string{corev1.LabelMetadataName: p.Namespace}
		if p.Role == RoleTenant {
			objs, err := baseline.ForTenant(baseline.Params{Tenant: p.Tenant, Namespace: p.Namespace, TenantLabel: "tenant",
				DNSNamespace: "kube-system", DNSPodLabels: map[string]string{"k8s-app": "kube-dns"}, SharedNamespaces: []string{"ingress-x1"}})
			require.NoError(t, err)
			for _, np := range objs.NetworkPolicies {
				top.Policies = append(top.Policies, *np)
			}
		}
	}
	for i := range top.Peers {
		top.Peers[i].Client.Labels = map[string]string{labelRole: ClientPod}
		top.Peers[i].Server.Labels = map[string]string{labelRole: ServerPod}
		if top.Peers[i].Role == RoleTenant {
			top.Peers[i].Server.Labels[labelPartOf] = top.Peers[i].Tenant
		}
	}
	return top
}

// Every real port of every mimic is tried from every mimic of the other
// tenant and from the outsider, never from the shared namespace allowed to
// the tenant; under the guide the control is the tenant's own client.
func TestWorkloadPaths(t *testing.T) {
	top := mimicTopology(t)
	got := map[string]Path{}
	for _, p := range workloadPaths(top) {
		got[fmt.Sprintf("%s>%s:%d/%s", p.FromPod, p.ToPod, p.Port, p.Protocol)] = p
	}
	want := []string{
		"tenant-a-x1/tc-mimic-0>tenant-b-x1/tc-mimic-1:9090/tcp",
		"tenant-a-x1/tc-mimic-1>tenant-b-x1/tc-mimic-1:9090/tcp",
		"outsider-x1/tc-probe-client>tenant-b-x1/tc-mimic-1:9090/tcp",
		"tenant-b-x1/tc-mimic-0>tenant-a-x1/tc-mimic-1:5353/udp",
		"tenant-b-x1/tc-mimic-1>tenant-a-x1/tc-mimic-1:5353/udp",
		"outsider-x1/tc-probe-client>tenant-a-x1/tc-mimic-1:5353/udp",
	}
	assert.ElementsMatch(t, want, keysOf(got))

	p := got["tenant-a-x1/tc-mimic-1>tenant-b-x1/tc-mimic-1:9090/tcp"]
	assert.Equal(t, "10.244.1.21", p.Host)
	assert.Equal(t, model.ViaPodIP, p.Via)
	assert.Equal(t, "tenant-b-x1/{app=api,tier=backend}", p.To)
	assert.False(t, p.PolicyAllows)
	assert.Contains(t, p.Policy, "blocked (no ingress rule in tenant-b-x1 admits it; no egress rule in tenant-a-x1 lets it out)")
	ctl := Path{FromPod: top.Peers[1].Client, Host: "10.244.1.21", Port: 9090, Protocol: probes.TCP}
	assert.Equal(t, ctl.Key(), p.Control, "the guide lets the namespace's own client reach the api")
	assert.Contains(t, p.ControlNote, "tenant-b-x1/tc-probe-client")
	src := Path{FromPod: top.Mimics[1].Pod, Host: top.Peers[0].Server.IP, Port: probes.ServePort, Protocol: probes.TCP}
	assert.Equal(t, src.Key(), p.SourceControl, "the guide lets a mimic reach its namespace's probe server")

	out := got["outsider-x1/tc-probe-client>tenant-b-x1/tc-mimic-1:9090/tcp"]
	assert.Equal(t, sourceControl(top, &top.Peers[3], probes.TCP).Key(), out.SourceControl)

	paths, want2 := plan(top)
	keys := map[string]bool{}
	for _, q := range paths {
		keys[q.Key()] = true
	}
	assert.True(t, keys[p.Control], "the plan probes the control")
	assert.True(t, keys[p.SourceControl], "and the source's control")
	assert.Equal(t, model.ReachAllowed, want2[p.Control])
}

func keysOf[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// A port no pod of the run may reach by policy is controlled by the mimic
// itself (its listener), and the evidence says so; a mimic whose egress is
// closed to its namespace proves its network by a DNS question.
func TestControlsWithoutAllowedPeers(t *testing.T) {
	top := mimicTopology(t)
	var denyOnly []networkingv1.NetworkPolicy
	for _, p := range top.Policies {
		if p.Name == baseline.PolicyDefaultDeny {
			denyOnly = append(denyOnly, p)
		}
	}
	top.Policies = denyOnly
	var p Path
	for _, q := range workloadPaths(top) {
		if q.FromPod.Name == "tc-mimic-1" && q.ToPod == "tenant-b-x1/tc-mimic-1" {
			p = q
		}
	}
	require.NotEmpty(t, p.Host)
	self := Path{FromPod: top.Mimics[3].Pod, Host: "10.244.1.21", Port: 9090, Protocol: probes.TCP}
	assert.Equal(t, self.Key(), p.Control)
	assert.Contains(t, p.ControlNote, "only the listener is proven")
	dns := Path{FromPod: top.Mimics[1].Pod, Host: top.DNS.ServiceIP, Port: probes.ServeDNSPort, Protocol: probes.UDP, Mode: probes.DNS}
	assert.Equal(t, dns.Key(), p.SourceControl)
}

// The three columns: a leak that policy allows names the policy; one that
// policy blocks says the CNI does not enforce; a path policy allows but the
// dataplane blocks is a warning, not a failure.
func TestJudgeWorkloadPaths(t *testing.T) {
	top := mimicTopology(t)
	udp := corev1.ProtocolUDP
	port := intstr.FromString("dns")
	open := networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "resolver-from-anywhere", Namespace: "tenant-a-x1"},
		Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "resolver"}},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{}}},
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: &udp, Port: &port}}}}}}
	top.Policies = append(top.Policies, open)
	check := checkByID(t, "network/workloads-isolated")

	obs := baselineObs(t, top)
	r := judgeCheck(check, top, obs, testRepro, "")
	assert.Equal(t, model.VerdictHeld, r.Verdict, r.Reason)
	assert.Contains(t, r.Reason, "warning: 1 path(s) blocked although policy allows them",
		"the outsider may reach the resolver by policy (its egress is open) but the dataplane blocked it")
	assert.Contains(t, r.Reason, "outsider-x1/tc-probe-client -> tenant-a-x1/{app=resolver} UDP/5353")

	leak := findMimicPath(t, top, "outsider-x1/tc-probe-client", "tenant-a-x1/tc-mimic-1")
	obs[leak.Key()] = observed(leak, probes.Connected)
	r = judgeCheck(check, top, obs, testRepro, "")
	assert.Equal(t, model.VerdictBroken, r.Verdict)
	assert.Contains(t, r.Reason, "outsider-x1/tc-probe-client -> tenant-a-x1/{app=resolver} UDP/5353 via pod IP: allowed, expected blocked")
	assert.Contains(t, r.Reason, "policy: allowed (ingress allowed by tenant-a-x1/resolver-from-anywhere")
	assert.Contains(t, r.Evidence[0].Action, "policy: allowed")

	obs = baselineObs(t, top)
	leak = findMimicPath(t, top, "tenant-a-x1/tc-mimic-0", "tenant-b-x1/tc-mimic-1")
	obs[leak.Key()] = observed(leak, probes.Refused, probes.Connected)
	r = judgeCheck(check, top, obs, testRepro, "")
	assert.Equal(t, model.VerdictBroken, r.Verdict)
	assert.Contains(t, r.Reason, "tenant-a-x1/(a new pod without labels) -> tenant-b-x1/{app=api,tier=backend} TCP/9090")
	assert.Contains(t, r.Reason, "the CNI does not enforce it")
}

func findMimicPath(t *testing.T, top *Topology, from, to string) Path {
	t.Helper()
	for _, p := range workloadPaths(top) {
		if p.FromPod.String() == from && p.ToPod == to {
			return p
		}
	}
	t.Fatalf("no path %s -> %s", from, to)
	return Path{}
}

// A tenant that admits the shared ingress only to its web pods: the probe
// server is refused, the web workload is reached, and the shared namespace
// serves the tenant. Without any path reached it is Broken.
func TestSharedIngressReachesWorkloads(t *testing.T) {
	top := mimicTopology(t)
	check := checkByID(t, "network/shared-ingress-allowed")
	obs := baselineObs(t, top)
	for _, p := range check.Paths(top) {
		if p.ToNamespace == "tenant-b-x1" && !strings.Contains(p.ToPod, mimicPrefix) {
			obs[p.Key()] = observed(p, probes.Refused)
		}
	}
	r := judgeCheck(check, top, obs, testRepro, "")
	assert.Equal(t, model.VerdictHeld, r.Verdict, r.Reason)
	assert.Contains(t, r.Reason, "the other 6, to tenantcheck's probe server or other workloads, were not reached, but their namespace was served")
	assert.Contains(t, r.Reason, "tenant-b-x1/{app=api,tier=backend} TCP/9090 via pod IP reached")

	for _, p := range check.Paths(top) {
		if p.ToNamespace == "tenant-b-x1" {
			obs[p.Key()] = observed(p, probes.Refused)
		}
	}
	r = judgeCheck(check, top, obs, testRepro, "")
	assert.Equal(t, model.VerdictBroken, r.Verdict)
	assert.Contains(t, r.Reason, "ingress -> tenant-b")
}

func TestPlanMimics(t *testing.T) {
	api := netpol.Shape{Namespace: "b", Labels: map[string]string{"app": "api", "tier": "backend"}, Ports: []corev1.ContainerPort{grpcPort}}
	web := netpol.Shape{Namespace: "b", Labels: map[string]string{"app": "web"}, Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 80, Protocol: corev1.ProtocolTCP}}}
	headless := corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "api-peers"},
		Spec: corev1.ServiceSpec{PublishNotReadyAddresses: true, Selector: map[string]string{"app": "api", "tier": "backend"}}}
	webPeers := corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web-peers"},
		Spec: corev1.ServiceSpec{PublishNotReadyAddresses: true, Selector: map[string]string{"app": "web"}}}
	plain := corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}}}
	s := tenantSpace{Namespace: "b", Shapes: []netpol.Shape{api, web}, Services: []corev1.Service{headless, webPeers, plain}}

	plan, skipped := planMimics(s, map[string]bool{"app": true})
	require.Len(t, plan, 2, "the blank source and the api; the web shape cannot be mimicked")
	assert.Empty(t, plan[0].labels)
	assert.Empty(t, plan[0].shape.Ports)
	assert.Equal(t, map[string]string{"app": "api"}, plan[1].labels, "tier, which no policy reads, is left out")
	assert.Equal(t, []string{"tier"}, plan[1].omitted)
	require.Len(t, skipped, 1)
	assert.Contains(t, skipped[0], "Service web-peers publishes not-ready addresses")

	plan, skipped = planMimics(s, map[string]bool{})
	assert.Len(t, plan, 3)
	assert.Empty(t, skipped)
}

// The mimic pod: the shape's labels and nothing of tenantcheck's; its
// marks in annotations; a readiness gate nobody sets; owned by the probe
// Service; listening on the real ports under their names.
func TestMimicPod(t *testing.T) {
	peer := peerAt("tenant-b", RoleTenant, "tenant-b", 2)
	owner := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: ServiceName, UID: types.UID("svc-uid")}}
	m := plannedMimic{shape: netpol.Shape{Labels: map[string]string{"app": "api"}, Ports: []corev1.ContainerPort{grpcPort, dnsPort}},
		labels: map[string]string{"app": "api"}}
	run := map[string]string{baseline.LabelManagedBy: baseline.ManagedByTenantcheck, baseline.LabelRun: "r1"}
	pod := mimicPod(layer.ProbeSettings{Image: "probe:dev"}.WithDefaults(), run, "n0nce", peer, 1, m, owner)

	assert.Equal(t, "tc-mimic-1", pod.Name)
	assert.Equal(t, map[string]string{"app": "api"}, pod.Labels, "no label of tenantcheck's")
	assert.Equal(t, "r1", pod.Annotations[baseline.LabelRun])
	assert.Equal(t, m.shape.Key(), pod.Annotations[AnnotationMimicOf])
	assert.Equal(t, []corev1.PodReadinessGate{{ConditionType: NeverReady}}, pod.Spec.ReadinessGates)
	require.Len(t, pod.OwnerReferences, 1)
	assert.Equal(t, "svc-uid", string(pod.OwnerReferences[0].UID))
	assert.True(t, *pod.OwnerReferences[0].Controller, "a controller reference: no ReplicaSet adopts the pod")
	c := pod.Spec.Containers[0]
	assert.Equal(t, []corev1.ContainerPort{grpcPort, dnsPort}, c.Ports)
	assert.Equal(t, []string{"serve", "--port", "0", "--nonce", "n0nce", "--listen", "9090/tcp", "--listen", "5353/udp"}, c.Args)
	assert.Nil(t, c.ReadinessProbe)
}

// With a pod without labels in the namespace of no tenant, that pod, not
// the probe client (which carries tenantcheck's labels), is the source.
func TestOutsiderMimicIsTheSource(t *testing.T) {
	top := mimicTopology(t)
	outsider := top.Peers[3]
	top.Mimics = append(top.Mimics, mimicAt(outsider, 0, "10.244.1.40", map[string]string{}))
	var from []string
	for _, p := range workloadPaths(top) {
		if p.From.Role == RoleOutsider {
			from = append(from, p.FromPod.String())
		}
	}
	assert.Equal(t, []string{"outsider-x1/tc-mimic-0", "outsider-x1/tc-mimic-0"}, from)
}

// The report's workload paths: what policy or the dataplane opens, live
// first, then the static-only ones the probe did not try.
func TestWorkloadPathsForTheReport(t *testing.T) {
	top := mimicTopology(t)
	udp := corev1.ProtocolUDP
	port := intstr.FromString("dns")
	top.Policies = append(top.Policies, networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "resolver-from-anywhere", Namespace: "tenant-a-x1"},
		Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "resolver"}},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{}}},
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: &udp, Port: &port}}}}}})
	obs := baselineObs(t, top)
	leak := findMimicPath(t, top, "outsider-x1/tc-probe-client", "tenant-a-x1/tc-mimic-1")
	obs[leak.Key()] = observed(leak, probes.Connected)

	live := livePaths(top, obs)
	require.Len(t, live, 1, "only the outsider may reach the resolver by policy (the tenants' egress is closed)")
	assert.Equal(t, model.WorkloadPath{From: "outsider-x1/tc-probe-client", To: "tenant-a-x1/{app=resolver}", ToTenant: "tenant-a", Port: 5353, Protocol: model.ProtocolUDP,
		Intended: model.ReachBlocked, Policy: model.ReachAllowed, Dataplane: model.ReachAllowed,
		PolicyWhy: "ingress allowed by tenant-a-x1/resolver-from-anywhere; no egress policy in outsider-x1 selects the pod"}, live[0])
	assert.Equal(t, "(no tenant) -> tenant-a", live[0].Pair())

	static := []model.WorkloadPath{
		{From: "outsider-x1/tc-probe-client", To: "tenant-a-x1/{app=resolver}", ToTenant: "tenant-a", Port: 5353, Protocol: model.ProtocolUDP, Policy: model.ReachAllowed},
		{From: "(a namespace of no tenant)/(a new pod without labels)", To: "tenant-a-x1/{app=cache}", ToTenant: "tenant-a", Port: 6379, Protocol: model.ProtocolTCP, Policy: model.ReachAllowed},
	}
	merged := mergePaths(live, static)
	require.Len(t, merged, 2, "the live path stands for its static twin")
	assert.Equal(t, model.ReachAllowed, merged[1].Dataplane)
	assert.Empty(t, merged[0].Dataplane, "the cache was not mimicked: static only")
	assert.Contains(t, merged[0].Columns(), "dataplane not probed live")
}

func TestAdminPolicies(t *testing.T) {
	o := unstructured.Unstructured{Object: map[string]any{
		"metadata": map[string]any{"name": "sensitive-deny"},
		"spec": map[string]any{"tier": "Admin", "priority": int64(10),
			"subject": map[string]any{"namespaces": map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": "b"}}},
			"ingress": []any{map[string]any{"action": "Deny", "name": "deny-all"}},
			"egress":  []any{map[string]any{"action": "Accept", "name": "dns"}},
		}}}
	p := adminPolicyOf(o)
	assert.Equal(t, "ClusterNetworkPolicy sensitive-deny: tier Admin, priority 10, subject {namespaces={matchLabels={kubernetes.io/metadata.name=b}}}, rules: ingress Deny deny-all; egress Accept dns", p.String())

	c := &kube.Client{}
	r := withAdminPolicies(c, staticCheck.Result(model.Held("policy blocks all 4 cross-tenant paths")), []AdminPolicy{p}, nil)
	assert.Contains(t, r.Reason, "; 1 admin-tier ClusterNetworkPolicy(ies), not evaluated here")
	assert.Contains(t, r.Reason, "sensitive-deny (Admin 10)")
	require.Len(t, r.Evidence, 1)
	assert.Equal(t, p.String(), r.Evidence[0].Raw)
	r = withAdminPolicies(c, staticCheck.Result(model.Held("x")), nil, errors.New("forbidden"))
	assert.Contains(t, r.Reason, "could not be read (forbidden)")
	assert.Equal(t, "x", withAdminPolicies(c, staticCheck.Result(model.Held("x")), nil, nil).Reason, "none: nothing said")
}

// A tenant that declares its ingress ports: the shared namespace allowed to
// it must not reach its workloads on any other port (it becomes a source
// of workloads-isolated for those), and shared-ingress-allowed looks for it
// on the declared ones only.
func TestDeclaredIngressPorts(t *testing.T) {
	top := mimicTopology(t)
	top.Peers[1].IngressPorts = []string{"8080/TCP"}
	for i := range top.Mimics {
		if top.Mimics[i].Peer.Namespace == top.Peers[1].Namespace {
			top.Mimics[i].Peer = top.Peers[1]
		}
	}
	var fromIngress []string
	for _, p := range workloadPaths(top) {
		if p.From.Role == RoleShared {
			fromIngress = append(fromIngress, fmt.Sprintf("%s:%d", p.ToPod, p.Port))
		}
	}
	assert.Equal(t, []string{"tenant-b-x1/tc-mimic-1:9090"}, fromIngress, "the api's 9090 is not declared: the ingress must not reach it")
	for _, p := range sharedWorkloadPaths(top) {
		assert.NotEqual(t, "tenant-b-x1", p.ToNamespace, "no declared port of tenant-b is served by a mimic")
	}
	assert.NotEmpty(t, sharedWorkloadPaths(top), "tenant-a declares none: any port")
}
