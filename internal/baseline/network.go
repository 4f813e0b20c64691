package baseline

import (
	"maps"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Names of the guide's NetworkPolicies.
const (
	PolicyDefaultDeny           = "default-deny"
	PolicyAllowSameNamespaceDNS = "allow-same-namespace-and-dns"
	PolicyAllowFromShared       = "allow-from-shared-ingress"
	// PolicyAllowToShared is tenantcheck's, not the guide's: the egress
	// a spec declares with a shared namespace's allowedFrom.
	PolicyAllowToShared = "allow-to-shared-services"
)

// LabelPartOf selects the tenant's pods that shared namespaces may reach;
// probe pods must carry it (value: the tenant name) to be reachable from a
// shared namespace.
const LabelPartOf = "app.kubernetes.io/part-of"

// DNSPort is the port the DNS exception opens, over UDP and TCP.
const DNSPort = 53

func networkPolicies(p Params) []*networkingv1.NetworkPolicy {
	out := []*networkingv1.NetworkPolicy{defaultDeny(p), allowSameNamespaceAndDNS(p)}
	if np := allowFromShared(p); np != nil {
		out = append(out, np)
	}
	if np := allowToShared(p); np != nil {
		out = append(out, np)
	}
	return out
}

func policy(p Params, name string) *networkingv1.NetworkPolicy {
	return &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: objectMeta(name, p.Namespace, p.Labels),
	}
}

var ingressAndEgress = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}

// defaultDeny selects every pod for both directions and allows nothing.
func defaultDeny(p Params) *networkingv1.NetworkPolicy {
	np := policy(p, PolicyDefaultDeny)
	np.Spec.PolicyTypes = append([]networkingv1.PolicyType(nil), ingressAndEgress...)
	return np
}

// allowSameNamespaceAndDNS lets pods talk within the namespace and reach
// the DNS pods on port 53 over UDP and TCP.
func allowSameNamespaceAndDNS(p Params) *networkingv1.NetworkPolicy {
	np := policy(p, PolicyAllowSameNamespaceDNS)
	sameNamespace := []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{}}}
	np.Spec.PolicyTypes = append([]networkingv1.PolicyType(nil), ingressAndEgress...)
	np.Spec.Ingress = []networkingv1.NetworkPolicyIngressRule{{From: sameNamespace}}
	np.Spec.Egress = []networkingv1.NetworkPolicyEgressRule{
		{To: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{}}}},
		{
			To: []networkingv1.NetworkPolicyPeer{{
				NamespaceSelector: namespaceNamed(p.DNSNamespace),
				PodSelector:       &metav1.LabelSelector{MatchLabels: maps.Clone(p.DNSPodLabels)},
			}},
			Ports: []networkingv1.NetworkPolicyPort{dnsPort(corev1.ProtocolUDP), dnsPort(corev1.ProtocolTCP)},
		},
	}
	return np
}

// allowFromShared lets the shared namespaces allowed to this tenant reach
// the tenant's part-of pods. The guide shows one shared namespace; with
// several, each is one more peer of the same rule (peers of a rule are
// ORed), which keeps the guide's single policy name. Nil when none.
func allowFromShared(p Params) *networkingv1.NetworkPolicy {
	if len(p.SharedNamespaces) == 0 {
		return nil
	}
	np := policy(p, PolicyAllowFromShared)
	np.Spec.PodSelector = metav1.LabelSelector{MatchLabels: map[string]string{LabelPartOf: p.Tenant}}
	np.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
	np.Spec.Ingress = []networkingv1.NetworkPolicyIngressRule{{From: namespacesNamed(p.SharedNamespaces)}}
	return np
}

// allowToShared lets the tenant's pods reach the shared namespaces the spec
// says it calls (allowedFrom), every pod and port of them. Nil when none.
func allowToShared(p Params) *networkingv1.NetworkPolicy {
	if len(p.SharedServices) == 0 {
		return nil
	}
	np := policy(p, PolicyAllowToShared)
	np.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}
	np.Spec.Egress = []networkingv1.NetworkPolicyEgressRule{{To: namespacesNamed(p.SharedServices)}}
	return np
}

// namespacesNamed is one peer per namespace, each by its name (peers of a
// rule are ORed).
func namespacesNamed(nss []string) []networkingv1.NetworkPolicyPeer {
	var out []networkingv1.NetworkPolicyPeer
	for _, ns := range nss {
		out = append(out, networkingv1.NetworkPolicyPeer{NamespaceSelector: namespaceNamed(ns)})
	}
	return out
}

// namespaceNamed selects one namespace by the immutable name label the API
// server sets, as the guide recommends.
func namespaceNamed(ns string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: ns}}
}

func dnsPort(proto corev1.Protocol) networkingv1.NetworkPolicyPort {
	port := intstr.FromInt32(DNSPort)
	return networkingv1.NetworkPolicyPort{Protocol: &proto, Port: &port}
}
