package network

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/tenantcheck/tenantcheck/internal/kube"
	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/internal/netpol"
)

func space(tenant, ns string, shapes ...netpol.Shape) tenantSpace {
	return tenantSpace{Tenant: tenant, Namespace: ns, Labels: map[string]string{"kubernetes.io/metadata.name": ns}, Shapes: shapes}
}

func shape(ns string, l map[string]string, ports ...corev1.ContainerPort) netpol.Shape {
	return netpol.Shape{Namespace: ns, Labels: l, Ports: ports, Pods: 1, Example: "p"}
}

func denyAll(ns string) networkingv1.NetworkPolicy {
	return networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "default-deny"},
		Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}}}
}

func TestJudgeStatic(t *testing.T) {
	api := shape("b", map[string]string{"app": "api"}, corev1.ContainerPort{Name: "grpc", ContainerPort: 9090, Protocol: corev1.ProtocolTCP})
	web := shape("b", map[string]string{"app": "web"}, corev1.ContainerPort{ContainerPort: 8080, Protocol: corev1.ProtocolTCP})
	worker := shape("a", map[string]string{"app": "worker"}, corev1.ContainerPort{ContainerPort: 5000, Protocol: corev1.ProtocolUDP})
	spaces := []tenantSpace{space("tenant-a", "a", worker), space("tenant-b", "b", api, web)}
	c := &kube.Client{}
	sameNS := func(ns string) networkingv1.NetworkPolicy {
		return networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "allow-same-namespace"},
			Spec: networkingv1.NetworkPolicySpec{
				Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{}}}}},
				Egress:  []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{}}}}}}}
	}
	guide := []networkingv1.NetworkPolicy{denyAll("a"), denyAll("b"), sameNS("a"), sameNS("b")}

	r, open0 := judgeStatic(c, spaces, nil, guide, DefaultMaxShapes)
	assert.Equal(t, model.VerdictHeld, r.Verdict, r.Reason)
	assert.Empty(t, open0)
	assert.Contains(t, r.Reason, "all 10 cross-tenant paths to 3 workload shape(s)")

	// B opens its api's gRPC port to every namespace; A's egress is open too.
	open := networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "b", Name: "api-from-anywhere"},
		Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "api"}},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{}}},
				Ports: []networkingv1.NetworkPolicyPort{{Port: ptrTo(intstr.FromString("grpc"))}}}}}}
	egress := networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "egress-anywhere"},
		Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Egress: []networkingv1.NetworkPolicyEgressRule{{}}}}
	r, paths := judgeStatic(c, spaces, nil, append(guide, open, egress), DefaultMaxShapes)
	assert.Equal(t, model.VerdictBroken, r.Verdict)
	require.Len(t, paths, 3, "one structured path per open line")
	assert.Equal(t, model.WorkloadPath{From: "a/{app=worker}", FromTenant: "tenant-a", To: "b/{app=api}", ToTenant: "tenant-b", Port: 9090, Protocol: model.ProtocolTCP,
		Intended: model.ReachBlocked, Policy: model.ReachAllowed, PolicyWhy: "ingress allowed by b/api-from-anywhere; egress allowed by a/egress-anywhere"}, paths[1])
	assert.Equal(t, "(a namespace of no tenant)/(a new pod without labels)", paths[2].From)
	assert.Contains(t, r.Reason, "a/{app=worker} (1 pod(s), e.g. p) -> b/{app=api} (1 pod(s), e.g. p) port 9090/TCP: ingress allowed by b/api-from-anywhere; egress allowed by a/egress-anywhere")
	assert.Contains(t, r.Reason, "a/(a new pod without labels) -> b/{app=api}")
	assert.Contains(t, r.Reason, "(a namespace of no tenant)/(a new pod without labels) -> b/{app=api}")
	assert.NotContains(t, r.Reason, "app=web", "only the opened workload")
	assert.Len(t, r.Evidence, 3)

	// Without workloads there is nothing to judge.
	r, _ = judgeStatic(c, []tenantSpace{space("tenant-a", "a"), space("tenant-b", "b")}, nil, guide, DefaultMaxShapes)
	assert.Equal(t, model.VerdictSkipped, r.Verdict)
}

func TestJudgeGamed(t *testing.T) {
	c := &kube.Client{}
	hide := networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "b", Name: "open-but-not-to-probes"},
		Spec: networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{
			NamespaceSelector: &metav1.LabelSelector{},
			PodSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "tenantcheck.io/probe", Operator: metav1.LabelSelectorOpDoesNotExist}}}}}}}}}
	assert.Equal(t, model.VerdictHeld, judgeGamed(c, []networkingv1.NetworkPolicy{denyAll("b")}).Verdict)
	r := judgeGamed(c, []networkingv1.NetworkPolicy{denyAll("b"), hide})
	assert.Equal(t, model.VerdictBroken, r.Verdict)
	assert.Contains(t, r.Reason, "NetworkPolicy b/open-but-not-to-probes selects on tenantcheck.io/probe")
}

// A shared namespace is a source for the tenants it is not allowed to: a
// policy opening tenant-b's api to it is Broken; the same opening in
// tenant-a, which it serves, is intended.
func TestJudgeStaticSharedSources(t *testing.T) {
	api := shape("b", map[string]string{"app": "api"}, corev1.ContainerPort{ContainerPort: 9090, Protocol: corev1.ProtocolTCP})
	worker := shape("a", map[string]string{"app": "worker"}, corev1.ContainerPort{ContainerPort: 5000, Protocol: corev1.ProtocolTCP})
	spaces := []tenantSpace{space("tenant-a", "a", worker), space("tenant-b", "b", api)}
	monitoring := tenantSpace{Namespace: "monitoring", Labels: map[string]string{corev1.LabelMetadataName: "monitoring"}, AllowedTo: []string{"tenant-a"}}
	fromMonitoring := func(ns string) networkingv1.NetworkPolicy {
		return networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "from-monitoring"},
			Spec: networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: "monitoring"}}}}}}}}
	}
	policies := []networkingv1.NetworkPolicy{denyAll("a"), denyAll("b"), fromMonitoring("a"), fromMonitoring("b")}
	r, paths := judgeStatic(&kube.Client{}, spaces, []tenantSpace{monitoring}, policies, DefaultMaxShapes)
	assert.Equal(t, model.VerdictBroken, r.Verdict)
	require.Len(t, paths, 1, "%+v", paths)
	assert.Equal(t, "monitoring/(a new pod without labels)", paths[0].From)
	assert.Equal(t, "b/{app=api}", paths[0].To)

	// tenant-a lets monitoring in on its worker's 5000 but declares only 9100.
	spaces[0].Peer.IngressPorts = []string{"9100/TCP"}
	_, paths = judgeStatic(&kube.Client{}, spaces, []tenantSpace{monitoring}, policies, DefaultMaxShapes)
	require.Len(t, paths, 2)
	assert.Equal(t, "a/{app=worker}", paths[0].To, "an undeclared port is no longer intended")
}
