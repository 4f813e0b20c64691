// Package network is the network layer: it deploys probe pods into every
// namespace of the run, tries the paths the tenancy spec allows and forbids,
// and judges each against its expectation.
//
// A Topology is what the cluster gave us (pod IPs, service IPs); the spec is
// what the tenants should look like. The two are kept apart, as the upstream
// netpol suite keeps Pod apart from TestPod.
package network

import (
	"fmt"
	"slices"
	"strconv"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/probes"
)

// Role is the roster's role of a namespace; the aliases keep the layer's
// code short.
type Role = model.Role

const (
	RoleTenant   = model.RoleTenant
	RoleShared   = model.RoleShared
	RoleOutsider = model.RoleOutsider
	RoleCanary   = model.RoleCanary
)

// Pod is one deployed probe pod.
type Pod struct {
	Namespace, Name, IP string
	Node                string // where it runs; "" when unknown
	// Labels are the pod's labels, for the policy evaluator.
	Labels map[string]string
	// OtherIPs are the pod's addresses of its other IP families (dual-stack
	// clusters): an egress rule "::/0 for the internet" opens them unseen
	// unless they are probed too.
	OtherIPs []string
}

func (p Pod) String() string { return p.Namespace + "/" + p.Name }

// Peer is one namespace of the roster with what the cluster gave it: a
// server pod that the other namespaces try to reach, and a client in the
// same namespace that probes from there (its probe of the server is the
// positive control).
type Peer struct {
	model.Member
	Server Pod
	Client Pod
	// ServiceIP and ServiceName address the server through its Service;
	// OtherServiceIPs are its ClusterIPs of the other IP families.
	ServiceIP       string
	ServiceName     string
	OtherServiceIPs []string
	// Unready says why the namespace's probes could not run (a tenant at
	// its quota); "" when they run.
	Unready string
	// NoPartOf says why a tenant's probe pods go without
	// app.kubernetes.io/part-of (a Service of the tenant's selects on it);
	// a shared namespace's path to its probe server then proves nothing.
	NoPartOf string
}

// DNS is cluster DNS as the tenants see it.
type DNS struct {
	ServiceIP string // the kube-dns Service's ClusterIP
	Name      string // namespace/service, for display
	// Configured is the resolver the pods' resolv.conf names when it is not
	// ServiceIP (NodeLocal DNSCache's 169.254.20.10, say): "DNS allowed"
	// is judged against what the pods really ask.
	Configured string
}

// Resolver is the name and address tenants' DNS questions go to.
func (d DNS) Resolver() (string, string) {
	if d.Configured != "" && d.Configured != d.ServiceIP {
		return "pods' resolver " + d.Configured, d.Configured
	}
	return "kube-dns", d.ServiceIP
}

// Topology is every peer of the run, in a stable order.
type Topology struct {
	Peers []Peer
	DNS   DNS
	// StandIn is the stand-in resolver that is not kube-dns: the outsider's
	// server pod also serves DNS. Tenants must not reach it.
	StandIn Pod
	// ClusterDomain completes service names ("cluster.local").
	ClusterDomain string
	// Mimics stand for the tenants' workload shapes (mimic.go);
	// NotMimicked says which shapes have none, and why.
	Mimics      []Mimic
	NotMimicked []string
	// Policies are the tenant and shared namespaces' NetworkPolicies and
	// NamespaceLabels those namespaces' labels: what policy says of a
	// mimic's path, beside what the dataplane did.
	Policies        []networkingv1.NetworkPolicy
	NamespaceLabels map[string]map[string]string
	// Pairs are the ordered tenant pairs probed live (--pairs); its zero
	// value probes every pair.
	Pairs PairCoverage
}

// liveTenants says whether the path from one tenant's namespace to
// another's is probed live under --pairs.
func (t *Topology) liveTenants(from, to Peer) bool {
	return t.Pairs.Live == nil || !crossTenant(from, to) || t.Pairs.Live[[2]string{from.Tenant, to.Tenant}]
}

// targets returns, for a source peer, the peers it may have a path to
// under --pairs, in peer order: every peer when every pair is live, else
// for a tenant only the peers of no tenant, its own tenant's and its live
// partners' (a thousand tenants on a ring then cost a thousand times three,
// not a million). liveTenants still decides.
func (t *Topology) targets() func(from Peer) []Peer {
	if t.Pairs.Live == nil {
		return func(Peer) []Peer { return t.Peers }
	}
	byTenant := map[string][]int{}
	var others []int
	for i, p := range t.Peers {
		if p.Role == RoleTenant {
			byTenant[p.Tenant] = append(byTenant[p.Tenant], i)
		} else {
			others = append(others, i)
		}
	}
	partners := map[string][]string{}
	for pair := range t.Pairs.Live {
		partners[pair[0]] = append(partners[pair[0]], pair[1])
	}
	return func(from Peer) []Peer {
		if from.Role != RoleTenant {
			return t.Peers
		}
		idx := slices.Clone(others)
		idx = append(idx, byTenant[from.Tenant]...)
		for _, other := range partners[from.Tenant] {
			idx = append(idx, byTenant[other]...)
		}
		slices.Sort(idx)
		out := make([]Peer, 0, len(idx))
		for _, i := range slices.Compact(idx) {
			out = append(out, t.Peers[i])
		}
		return out
	}
}

// unready says why a path cannot be probed: its source's or its target's
// namespace has no running probes; "" when it can. For many paths, take
// unreadyFunc once instead.
func (t *Topology) unready(p Path) string {
	return t.unreadyFunc()(p)
}

// unreadyFunc is unready over the peers as they are now: one look at the
// peers, then a map lookup per path.
func (t *Topology) unreadyFunc() func(Path) string {
	type flaw struct {
		unready   string
		noPartOf  string
		server    string
		namespace string
	}
	flaws := map[string]flaw{}
	var order []string
	for _, peer := range t.Peers {
		if peer.Unready == "" && peer.NoPartOf == "" {
			continue
		}
		if _, ok := flaws[peer.Namespace]; !ok {
			order = append(order, peer.Namespace)
			flaws[peer.Namespace] = flaw{unready: peer.Unready, noPartOf: peer.NoPartOf, server: peer.Server.String(), namespace: peer.Namespace}
		}
	}
	if len(flaws) == 0 {
		return func(Path) string { return "" }
	}
	return func(p Path) string {
		// In peer order, as one namespace may be the source and another
		// the target.
		for _, ns := range order {
			f := flaws[ns]
			if f.unready != "" && (ns == p.FromPod.Namespace || ns == p.ToNamespace || ns == p.From.Namespace) {
				return fmt.Sprintf("no probe runs in %s: %s", ns, f.unready)
			}
			// A policy of the guide's kind admits a shared namespace to the
			// tenant's part-of pods: a probe server without the label cannot
			// stand for them, whether reached or not.
			if f.noPartOf != "" && p.From.Role == RoleShared && ns == p.ToNamespace && p.ToPod == f.server {
				return f.noPartOf
			}
		}
		return ""
	}
}

// Peer returns the peer of a role; ok is false when there is none.
func (t *Topology) peer(role Role) (Peer, bool) {
	for _, p := range t.Peers {
		if p.Role == role {
			return p, true
		}
	}
	return Peer{}, false
}

// peerRef is peer as a pointer into Peers (nil, false when there is none).
func (t *Topology) peerRef(role Role) (*Peer, bool) {
	for i := range t.Peers {
		if t.Peers[i].Role == role {
			return &t.Peers[i], true
		}
	}
	return nil, false
}

// Path is one probe: from a client pod to a target, by one protocol and one
// way of addressing the target.
type Path struct {
	From     *Peer
	FromPod  Pod
	To       string // display name of the target ("tenant-b-prod", "kube-dns")
	ToPod    string // namespace/pod of the target, when it is a probe pod
	ToNode   string // the target pod's node, when known
	Host     string
	Port     int
	Protocol probes.Protocol
	Mode     probes.Mode
	Via      model.Via
	// Control is the key of the path whose success shows the target is up.
	Control string
	// Family is "IPv4" or "IPv6" for a path to a pod's or Service's address
	// of its other family on a dual-stack cluster; "" for the primary one.
	// Matrices show the primary family; the checks judge both.
	Family string
	// ControlNote says what the control of a path to a mimic proves.
	ControlNote string
	// controls are the control paths of a path to a mimic, built with it.
	controls []Path
	// ToNamespace is the target's namespace, when it is a pod of the run.
	ToNamespace string
	// Policy is what the NetworkPolicies say of the path ("" when not
	// evaluated): PolicyAllows, and which policies allow it, or "blocked".
	Policy       string
	PolicyAllows bool
	PolicyWhy    string
	// SourceControl is the key of the path whose success shows the source
	// pod's own network works (it reaches its own namespace's server): a
	// source that reaches nothing proves no block either.
	SourceControl string
}

// Key identifies a path; identical probes share a key and run once.
func (p Path) Key() string {
	return pathKey(p.FromPod, p.Host, p.Port, p.Protocol, p.Mode)
}

// pathKey is Key without a Path, for controls that need only their key.
// Concatenation, not Sprintf: a thousand-tenant plan keys paths by the
// hundred thousand.
func pathKey(from Pod, host string, port int, proto probes.Protocol, mode probes.Mode) string {
	if mode == "" {
		mode = probes.Connect
	}
	return from.Namespace + "/" + from.Name + ">" + host + ":" + strconv.Itoa(port) + "/" + string(proto) + "/" + string(mode)
}

// Target is the probe agent's view of the path.
func (p Path) Target(timeoutMs int) probes.Target {
	return probes.Target{ID: p.Key(), Host: p.Host, Port: p.Port, Protocol: p.Protocol, Mode: p.Mode, TimeoutMs: timeoutMs}
}
