package netpol

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The model of the upstream network policy e2e suite
// (test/e2e/network/netpol): namespaces x, y, z, each with pods a, b, c
// labelled pod=<name>, namespaces labelled ns=<name>, every pod serving
// ports 80 and 81 on TCP, UDP and SCTP, named serve-<port>-<proto>. Each
// case below is one of that suite's policies and the reachability it
// expects, written as the connections that differ from "all allowed";
// a pod talking to itself is never judged.

var (
	namespaces = []string{"x", "y", "z"}
	podNames   = []string{"a", "b", "c"}
)

func modelPods() map[string]*Pod {
	out := map[string]*Pod{}
	ip := 1
	for _, ns := range namespaces {
		for _, name := range podNames {
			var ports []corev1.ContainerPort
			for _, port := range []int32{80, 81} {
				for _, proto := range []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP} {
					ports = append(ports, corev1.ContainerPort{ContainerPort: port, Protocol: proto,
						Name: fmt.Sprintf("serve-%d-%s", port, strings.ToLower(string(proto)))})
				}
			}
			out[ns+"/"+name] = &Pod{Namespace: ns, NamespaceLabels: map[string]string{"ns": ns, "kubernetes.io/metadata.name": ns},
				Labels: map[string]string{"pod": name}, IP: fmt.Sprintf("10.0.0.%d", ip), Ports: ports}
			ip++
		}
	}
	return out
}

// denied lists "from -> to" pairs that policy denies on port/proto.
func denied(policies []networkingv1.NetworkPolicy, port int32, proto corev1.Protocol) []string {
	pods := modelPods()
	var out []string
	for fk, from := range pods {
		for tk, to := range pods {
			if fk == tk {
				continue
			}
			v := Evaluate(policies, Connection{From: Peer{Pod: from}, To: Peer{Pod: to}, Port: port, Protocol: proto})
			if !v.Allowed() {
				out = append(out, fk+" -> "+tk)
			}
		}
	}
	sort.Strings(out)
	return out
}

// pairs expands "from -> to" where either end may be "x/*", "*" or a pod.
func pairs(specs ...string) []string {
	expand := func(s string) []string {
		var out []string
		for _, ns := range namespaces {
			for _, p := range podNames {
				k := ns + "/" + p
				if s == "*" || s == k || s == ns+"/*" {
					out = append(out, k)
				}
			}
		}
		return out
	}
	set := map[string]bool{}
	for _, s := range specs {
		from, to, _ := strings.Cut(s, " -> ")
		for _, f := range expand(from) {
			for _, t := range expand(to) {
				if f != t {
					set[f+" -> "+t] = true
				}
			}
		}
	}
	var out []string
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// minus is a without b.
func minus(a, b []string) []string {
	drop := map[string]bool{}
	for _, s := range b {
		drop[s] = true
	}
	var out []string
	for _, s := range a {
		if !drop[s] {
			out = append(out, s)
		}
	}
	return out
}

func policy(ns, name string, sel map[string]string, mutate func(*networkingv1.NetworkPolicySpec)) networkingv1.NetworkPolicy {
	p := networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: sel}}}
	mutate(&p.Spec)
	return p
}

func podSel(name string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{"pod": name}}
}

func nsSel(name string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{"ns": name}}
}

func ptr[T any](v T) *T { return &v }

func portNum(p int32, proto corev1.Protocol) networkingv1.NetworkPolicyPort {
	return networkingv1.NetworkPolicyPort{Port: ptr(intstr.FromInt32(p)), Protocol: &proto}
}

func portName(n string, proto corev1.Protocol) networkingv1.NetworkPolicyPort {
	return networkingv1.NetworkPolicyPort{Port: ptr(intstr.FromString(n)), Protocol: &proto}
}

const (
	tcp  = corev1.ProtocolTCP
	udp  = corev1.ProtocolUDP
	sctp = corev1.ProtocolSCTP
)

var ingress = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
var egress = []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}

func TestUpstreamTruthTables(t *testing.T) {
	type probe struct {
		port   int32
		proto  corev1.Protocol
		denied []string
	}
	cases := []struct {
		name     string
		policies []networkingv1.NetworkPolicy
		probes   []probe
	}{
		{"should support a 'default-deny-ingress' policy",
			[]networkingv1.NetworkPolicy{policy("x", "deny-ingress", nil, func(s *networkingv1.NetworkPolicySpec) { s.PolicyTypes = ingress })},
			[]probe{{80, tcp, pairs("* -> x/*")}}},
		{"should support a 'default-deny-all' policy",
			[]networkingv1.NetworkPolicy{policy("x", "deny-all", nil, func(s *networkingv1.NetworkPolicySpec) {
				s.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}
			})},
			[]probe{{80, tcp, pairs("* -> x/*", "x/* -> *")}}},
		{"should enforce policy to allow traffic from pods within server namespace based on PodSelector",
			[]networkingv1.NetworkPolicy{policy("x", "x-a-allows-x-b", map[string]string{"pod": "a"}, func(s *networkingv1.NetworkPolicySpec) {
				s.Ingress = []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{PodSelector: podSel("b")}}}}
			})},
			[]probe{{80, tcp, minus(pairs("* -> x/a"), pairs("x/b -> x/a"))}}},
		{"should enforce policy to allow ingress traffic for a target (namespaceSelector)",
			[]networkingv1.NetworkPolicy{policy("x", "allow-from-y", map[string]string{"pod": "a"}, func(s *networkingv1.NetworkPolicySpec) {
				s.Ingress = []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: nsSel("y")}}}}
			})},
			[]probe{{80, tcp, minus(pairs("* -> x/a"), pairs("y/* -> x/a"))}}},
		{"should enforce policy based on NamespaceSelector with MatchExpressions",
			[]networkingv1.NetworkPolicy{policy("x", "allow-not-x", map[string]string{"pod": "a"}, func(s *networkingv1.NetworkPolicySpec) {
				s.Ingress = []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{
					MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "ns", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"x"}}}}}}}}
			})},
			[]probe{{80, tcp, pairs("x/* -> x/a")}}},
		{"should enforce policy based on PodSelector or NamespaceSelector",
			[]networkingv1.NetworkPolicy{policy("x", "or", map[string]string{"pod": "a"}, func(s *networkingv1.NetworkPolicySpec) {
				s.Ingress = []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{
					{NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "ns", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"x"}}}}},
					{PodSelector: podSel("b")}}}}
			})},
			[]probe{{80, tcp, pairs("x/c -> x/a")}}},
		{"should enforce policy based on PodSelector and NamespaceSelector",
			[]networkingv1.NetworkPolicy{policy("x", "and", map[string]string{"pod": "a"}, func(s *networkingv1.NetworkPolicySpec) {
				s.Ingress = []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{
					NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "ns", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"x"}}}},
					PodSelector:       podSel("b")}}}}
			})},
			[]probe{{80, tcp, minus(pairs("* -> x/a"), pairs("y/b -> x/a", "z/b -> x/a"))}}},
		{"should enforce policy based on Multiple PodSelectors and NamespaceSelectors",
			[]networkingv1.NetworkPolicy{policy("x", "multi", map[string]string{"pod": "a"}, func(s *networkingv1.NetworkPolicySpec) {
				s.Ingress = []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{
					NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "ns", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"x"}}}},
					PodSelector:       &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "pod", Operator: metav1.LabelSelectorOpIn, Values: []string{"b", "c"}}}}}}}}
			})},
			[]probe{{80, tcp, minus(pairs("* -> x/a"), pairs("y/b -> x/a", "y/c -> x/a", "z/b -> x/a", "z/c -> x/a"))}}},
		{"should enforce policy based on Ports",
			[]networkingv1.NetworkPolicy{policy("x", "only-81", map[string]string{"pod": "a"}, func(s *networkingv1.NetworkPolicySpec) {
				s.Ingress = []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: nsSel("y")}}, Ports: []networkingv1.NetworkPolicyPort{portNum(81, tcp)}}}
			})},
			[]probe{{80, tcp, pairs("* -> x/a")}, {81, tcp, minus(pairs("* -> x/a"), pairs("y/* -> x/a"))}}},
		{"should allow ingress access on one named port",
			[]networkingv1.NetworkPolicy{policy("x", "named-81", nil, func(s *networkingv1.NetworkPolicySpec) {
				s.Ingress = []networkingv1.NetworkPolicyIngressRule{{Ports: []networkingv1.NetworkPolicyPort{portName("serve-81-tcp", tcp)}}}
			})},
			[]probe{{81, tcp, nil}, {80, tcp, pairs("* -> x/*")}, {81, udp, pairs("* -> x/*")}}},
		{"should allow ingress access from namespace on one named port",
			[]networkingv1.NetworkPolicy{policy("x", "named-80-from-y", nil, func(s *networkingv1.NetworkPolicySpec) {
				s.Ingress = []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: nsSel("y")}},
					Ports: []networkingv1.NetworkPolicyPort{portName("serve-80-tcp", tcp)}}}
			})},
			[]probe{{80, tcp, minus(pairs("* -> x/*"), pairs("y/* -> x/*"))}, {81, tcp, pairs("* -> x/*")}}},
		{"should allow egress access on one named port",
			[]networkingv1.NetworkPolicy{policy("x", "egress-named-80", nil, func(s *networkingv1.NetworkPolicySpec) {
				s.PolicyTypes = egress
				s.Egress = []networkingv1.NetworkPolicyEgressRule{{Ports: []networkingv1.NetworkPolicyPort{portName("serve-80-tcp", tcp)}}}
			})},
			[]probe{{80, tcp, nil}, {81, tcp, pairs("x/* -> *")}}},
		{"should support egress and ingress policies controlled independently",
			[]networkingv1.NetworkPolicy{policy("x", "a-no-egress-to-b", map[string]string{"pod": "a"}, func(s *networkingv1.NetworkPolicySpec) {
				s.PolicyTypes = egress
				s.Egress = []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{
					MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "pod", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"b"}}}}}}}}
			})},
			[]probe{{80, tcp, pairs("x/a -> x/b", "x/a -> y/*", "x/a -> z/*")}}},
		{"should support allow-all policy",
			[]networkingv1.NetworkPolicy{policy("x", "allow-all", nil, func(s *networkingv1.NetworkPolicySpec) {
				s.Ingress = []networkingv1.NetworkPolicyIngressRule{{}}
			})},
			[]probe{{80, tcp, nil}, {81, udp, nil}}},
		{"should enforce multiple ingress policies with ingress allow-all policy taking precedence",
			[]networkingv1.NetworkPolicy{
				policy("x", "only-80", map[string]string{"pod": "a"}, func(s *networkingv1.NetworkPolicySpec) {
					s.Ingress = []networkingv1.NetworkPolicyIngressRule{{Ports: []networkingv1.NetworkPolicyPort{portNum(80, tcp)}}}
				}),
				policy("x", "allow-all", map[string]string{"pod": "a"}, func(s *networkingv1.NetworkPolicySpec) {
					s.Ingress = []networkingv1.NetworkPolicyIngressRule{{}}
				})},
			[]probe{{80, tcp, nil}, {81, tcp, nil}}},
		{"should enforce policy based on Protocol (UDP only)",
			[]networkingv1.NetworkPolicy{policy("x", "udp-only", map[string]string{"pod": "a"}, func(s *networkingv1.NetworkPolicySpec) {
				s.Ingress = []networkingv1.NetworkPolicyIngressRule{{Ports: []networkingv1.NetworkPolicyPort{{Protocol: ptr(udp)}}}}
			})},
			[]probe{{80, tcp, pairs("* -> x/a")}, {80, udp, nil}, {81, sctp, pairs("* -> x/a")}}},
		{"should support egress policy with endPort (81..82 allowed, 80 not)",
			[]networkingv1.NetworkPolicy{policy("x", "egress-range", map[string]string{"pod": "a"}, func(s *networkingv1.NetworkPolicySpec) {
				p := portNum(81, tcp)
				p.EndPort = ptr(int32(82))
				s.PolicyTypes = egress
				s.Egress = []networkingv1.NetworkPolicyEgressRule{{Ports: []networkingv1.NetworkPolicyPort{p}}}
			})},
			[]probe{{80, tcp, pairs("x/a -> *")}, {81, tcp, nil}}},
		{"should enforce except clause while egress access to server in CIDR block",
			[]networkingv1.NetworkPolicy{policy("x", "cidr-except-y-b", map[string]string{"pod": "a"}, func(s *networkingv1.NetworkPolicySpec) {
				// y/b is 10.0.0.5 in the model
				s.PolicyTypes = egress
				s.Egress = []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/24", Except: []string{"10.0.0.5/32"}}}}}}
			})},
			[]probe{{80, tcp, pairs("x/a -> y/b")}}},
		{"an egress policy without rules denies egress only",
			[]networkingv1.NetworkPolicy{policy("y", "deny-egress", nil, func(s *networkingv1.NetworkPolicySpec) { s.PolicyTypes = egress })},
			[]probe{{80, tcp, pairs("y/* -> *")}}},
		{"egress rules without policyTypes isolate both ways",
			[]networkingv1.NetworkPolicy{policy("z", "egress-to-x", nil, func(s *networkingv1.NetworkPolicySpec) {
				s.Egress = []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: nsSel("x")}}}}
			})},
			[]probe{{80, tcp, pairs("* -> z/*", "z/* -> y/*", "z/* -> z/*")}}},
		{"a podSelector peer in another namespace's policy means that policy's namespace",
			[]networkingv1.NetworkPolicy{policy("y", "allow-pod-b", nil, func(s *networkingv1.NetworkPolicySpec) {
				s.Ingress = []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{PodSelector: podSel("b")}}}}
			})},
			[]probe{{80, tcp, minus(pairs("* -> y/*"), pairs("y/b -> y/*"))}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, p := range tc.probes {
				assert.Equal(t, p.denied, denied(tc.policies, p.port, p.proto), "port %d/%s", p.port, p.proto)
			}
		})
	}
}

// The verdict names the policies that allow, for the report.
func TestVerdictNamesPolicies(t *testing.T) {
	pods := modelPods()
	ps := []networkingv1.NetworkPolicy{
		policy("x", "deny", nil, func(s *networkingv1.NetworkPolicySpec) { s.PolicyTypes = ingress }),
		policy("x", "open-81", map[string]string{"pod": "a"}, func(s *networkingv1.NetworkPolicySpec) {
			s.Ingress = []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{}}},
				Ports: []networkingv1.NetworkPolicyPort{portNum(81, tcp)}}}
		}),
	}
	v := Evaluate(ps, Connection{From: Peer{Pod: pods["y/c"]}, To: Peer{Pod: pods["x/a"]}, Port: 81, Protocol: tcp})
	assert.True(t, v.Allowed())
	assert.Equal(t, []string{"x/open-81"}, v.Ingress.AllowedBy)
	assert.False(t, v.Egress.Isolated)
	v = Evaluate(ps, Connection{From: Peer{Pod: pods["y/c"]}, To: Peer{Pod: pods["x/a"]}, Port: 80, Protocol: tcp})
	assert.False(t, v.Allowed())
	assert.True(t, v.Ingress.Isolated)
	// An address outside the cluster matches ipBlocks only.
	v = Evaluate([]networkingv1.NetworkPolicy{policy("x", "egress-ns", nil, func(s *networkingv1.NetworkPolicySpec) {
		s.Egress = []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{}}}}}
	})}, Connection{From: Peer{Pod: pods["x/a"]}, To: Peer{IP: "192.0.2.1"}, Port: 443})
	assert.False(t, v.Allowed(), "namespaceSelector: {} is every pod, not every address")
}
