// Package netpol answers, from the NetworkPolicy objects alone, whether
// Kubernetes NetworkPolicy semantics allow one connection: the static half
// of an audit, which the live probes then confirm or contradict.
//
// The semantics are the API's (networking.k8s.io/v1), as the upstream
// network policy e2e suite tests them:
//
//   - A pod is isolated for ingress (egress) when some policy in its
//     namespace selects it and has Ingress (Egress) among its policyTypes;
//     policyTypes left empty mean Ingress, plus Egress when the policy has
//     egress rules. A pod no policy isolates allows everything that way.
//   - Policies are additive: an isolated pod allows a connection when any
//     rule of any policy that selects it allows it.
//   - A rule with no peers allows every peer; with no ports, every port. A
//     peer is a podSelector (pods of the policy's own namespace), a
//     namespaceSelector (every pod of the namespaces it selects), both (the
//     pods it selects in the namespaces it selects), or an ipBlock (the CIDR
//     minus its exceptions).
//   - A port matches by protocol (TCP when left out), by number, by range
//     (port..endPort), or by name, resolved against the destination pod's
//     container ports; a port left out matches every port of the protocol.
//   - A connection between two pods needs both the source's egress and the
//     destination's ingress to allow it.
package netpol

import (
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Pod is one end of a connection inside the cluster.
type Pod struct {
	Namespace       string
	NamespaceLabels map[string]string
	Labels          map[string]string
	// IP is the pod's address, for ipBlock peers; may be empty.
	IP string
	// Ports are its containers' ports, to resolve named ports.
	Ports []corev1.ContainerPort
}

// Peer is a connection's end: a pod of the cluster, or (Pod nil) an
// address outside it.
type Peer struct {
	Pod *Pod
	IP  string
}

// Connection is one connection attempt.
type Connection struct {
	From, To Peer
	Port     int32
	Protocol corev1.Protocol
}

// Direction is one side's decision.
type Direction struct {
	// Isolated: some policy selects the pod for this direction.
	Isolated bool
	// AllowedBy names the policies ("namespace/name") whose rules allow the
	// connection; empty when isolated and nothing allows it.
	AllowedBy []string
}

// Allowed reports whether this side lets the connection through.
func (d Direction) Allowed() bool { return !d.Isolated || len(d.AllowedBy) > 0 }

// Verdict is what policy says of one connection.
type Verdict struct {
	Egress, Ingress Direction
}

// Allowed: both the source's egress and the destination's ingress allow it.
func (v Verdict) Allowed() bool { return v.Egress.Allowed() && v.Ingress.Allowed() }

// Evaluate judges c against every policy of the cluster (or of the
// namespaces that matter: the two ends').
func Evaluate(policies []networkingv1.NetworkPolicy, c Connection) Verdict {
	proto := c.Protocol
	if proto == "" {
		proto = corev1.ProtocolTCP
	}
	var v Verdict
	if c.From.Pod != nil {
		v.Egress = decide(policies, c.From.Pod, networkingv1.PolicyTypeEgress, c.To, c.To.Pod, c.Port, proto)
	}
	if c.To.Pod != nil {
		v.Ingress = decide(policies, c.To.Pod, networkingv1.PolicyTypeIngress, c.From, c.To.Pod, c.Port, proto)
	}
	return v
}

type rule struct {
	peers []networkingv1.NetworkPolicyPeer
	ports []networkingv1.NetworkPolicyPort
}

// rulesOf are a policy's rules for one direction, as peers and ports.
func rulesOf(p *networkingv1.NetworkPolicy, dir networkingv1.PolicyType) []rule {
	var out []rule
	if dir == networkingv1.PolicyTypeEgress {
		for _, r := range p.Spec.Egress {
			out = append(out, rule{peers: r.To, ports: r.Ports})
		}
		return out
	}
	for _, r := range p.Spec.Ingress {
		out = append(out, rule{peers: r.From, ports: r.Ports})
	}
	return out
}

// decide is one side: subject is the pod the policies must select, other
// the far end the rules' peers must match, dest the pod whose named ports
// the rules' ports resolve against.
func decide(policies []networkingv1.NetworkPolicy, subject *Pod, dir networkingv1.PolicyType,
	other Peer, dest *Pod, port int32, proto corev1.Protocol) Direction {
	var d Direction
	for i := range policies {
		p := &policies[i]
		if p.Namespace != subject.Namespace || !hasType(p, dir) || !selects(&p.Spec.PodSelector, subject.Labels) {
			continue
		}
		d.Isolated = true
		for _, r := range rulesOf(p, dir) {
			if peersMatch(r.peers, p.Namespace, other) && portsMatch(r.ports, dest, port, proto) {
				d.AllowedBy = append(d.AllowedBy, p.Namespace+"/"+p.Name)
				break
			}
		}
	}
	return d
}

// hasType applies the API's defaulting of policyTypes.
func hasType(p *networkingv1.NetworkPolicy, t networkingv1.PolicyType) bool {
	if len(p.Spec.PolicyTypes) > 0 {
		return slices.Contains(p.Spec.PolicyTypes, t)
	}
	return t == networkingv1.PolicyTypeIngress || len(p.Spec.Egress) > 0
}

// selects is a label selector match; a selector that does not parse
// selects nothing (the API server refuses such a policy anyway).
func selects(sel *metav1.LabelSelector, l map[string]string) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return false
	}
	return s.Matches(labels.Set(l))
}

func peersMatch(peers []networkingv1.NetworkPolicyPeer, policyNS string, other Peer) bool {
	if len(peers) == 0 {
		return true
	}
	for _, p := range peers {
		if peerMatches(p, policyNS, other) {
			return true
		}
	}
	return false
}

func peerMatches(p networkingv1.NetworkPolicyPeer, policyNS string, other Peer) bool {
	if p.IPBlock != nil {
		ip := other.IP
		if ip == "" && other.Pod != nil {
			ip = other.Pod.IP
		}
		return inBlock(p.IPBlock, ip)
	}
	if other.Pod == nil {
		return false // pod and namespace selectors match only pods
	}
	switch {
	case p.NamespaceSelector != nil && p.PodSelector != nil:
		return selects(p.NamespaceSelector, other.Pod.NamespaceLabels) && selects(p.PodSelector, other.Pod.Labels)
	case p.NamespaceSelector != nil:
		return selects(p.NamespaceSelector, other.Pod.NamespaceLabels)
	case p.PodSelector != nil:
		return other.Pod.Namespace == policyNS && selects(p.PodSelector, other.Pod.Labels)
	}
	return false
}

func inBlock(b *networkingv1.IPBlock, ip string) bool {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	cidr, err := netip.ParsePrefix(b.CIDR)
	if err != nil || !cidr.Contains(addr) {
		return false
	}
	for _, e := range b.Except {
		if ex, err := netip.ParsePrefix(e); err == nil && ex.Contains(addr) {
			return false
		}
	}
	return true
}

func portsMatch(ports []networkingv1.NetworkPolicyPort, dest *Pod, port int32, proto corev1.Protocol) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		pp := corev1.ProtocolTCP
		if p.Protocol != nil {
			pp = *p.Protocol
		}
		if pp != proto {
			continue
		}
		switch {
		case p.Port == nil:
			return true
		case p.Port.Type == intstr.String: // a named port of the destination pod
			if dest != nil && namedPort(dest, p.Port.StrVal, proto) == port {
				return true
			}
		case p.EndPort != nil:
			if port >= p.Port.IntVal && port <= *p.EndPort {
				return true
			}
		case p.Port.IntVal == port:
			return true
		}
	}
	return false
}

// namedPort is the number of the destination's container port of that
// name and protocol, or 0.
func namedPort(pod *Pod, name string, proto corev1.Protocol) int32 {
	for _, cp := range pod.Ports {
		cpProto := cp.Protocol
		if cpProto == "" {
			cpProto = corev1.ProtocolTCP
		}
		if cp.Name == name && cpProto == proto {
			return cp.ContainerPort
		}
	}
	return 0
}
