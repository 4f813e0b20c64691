package network

import (
	"slices"
	"strings"

	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/probes"
)

// Check is one network check: its identity and expectation, and the paths
// that it covers in a topology. Adding a check is adding one entry to Checks.
type Check struct {
	model.Check
	Paths func(t *Topology) []Path
	// Group, when set, puts an Allowed check's paths in groups of which one
	// reaching is enough (a shared namespace reaches the tenant's workloads
	// on some port); "" keeps a path on its own.
	Group func(t *Topology, p Path) string
	// NoPaths says why a topology gives the check no path (default: the
	// spec has none of its kind).
	NoPaths string
}

var (
	bothProtocols = []probes.Protocol{probes.TCP, probes.UDP}
	onlyTCP       = []probes.Protocol{probes.TCP}
	onlyUDP       = []probes.Protocol{probes.UDP}
	allVias       = []model.Via{model.ViaPodIP, model.ViaServiceIP, model.ViaServiceName}
)

func check(id, name, desc string, want model.Reach, paths func(t *Topology) []Path) Check {
	return Check{
		Check: model.Check{ID: "network/" + id, Layer: model.LayerNetwork, Name: name, Description: desc, Expected: model.ExpectReach(want)},
		Paths: paths,
	}
}

// Checks is the network layer, in report order. The canary is not here: it
// needs its own policy and timing (see canary.go).
var Checks = []Check{
	check("same-namespace", "same namespace allowed",
		"a pod reaches a pod of its own namespace (TCP and UDP, by pod IP, service IP and name): the positive control that tells a down server from a blocked one",
		model.ReachAllowed, pairs(bothProtocols, func(from, to Peer) bool { return from.Namespace == to.Namespace })),
	check("cross-tenant-tcp", "cross-tenant TCP denied",
		"no pod of one tenant reaches a pod of another tenant over TCP, in either direction",
		model.ReachBlocked, pairs(onlyTCP, crossTenant)),
	check("cross-tenant-udp", "cross-tenant UDP denied",
		"no pod of one tenant reaches a pod of another tenant over UDP, in either direction",
		model.ReachBlocked, pairs(onlyUDP, crossTenant)),
	sharedIngress,
	workloadsIsolated,
	check("other-namespace-ingress-denied", "other namespaces to tenant denied",
		"a namespace that is neither the tenant's nor a shared namespace allowed to it does not reach the tenant",
		model.ReachBlocked, pairs(bothProtocols, func(from, to Peer) bool {
			return to.Role == RoleTenant && (from.Role == RoleOutsider ||
				(from.Role == RoleShared && !slices.Contains(from.AllowedTo, to.Tenant)))
		})),
	check("tenant-egress-denied", "tenant egress to other namespaces denied",
		"default-deny egress: a tenant reaches neither other namespaces nor shared ones, except the shared namespaces the spec says it calls (allowedFrom)",
		model.ReachBlocked, pairs(bothProtocols, func(from, to Peer) bool {
			return from.Role == RoleTenant && (to.Role == RoleOutsider ||
				(to.Role == RoleShared && !slices.Contains(to.AllowedFrom, from.Tenant)))
		})),
	check("dns-kube-dns-allowed", "DNS to kube-dns allowed",
		"tenants resolve names through cluster DNS (UDP and TCP 53)",
		model.ReachAllowed, dnsPaths(func(t *Topology) (string, string, string) {
			name, ip := t.DNS.Resolver()
			return name, "", ip
		})),
	check("dns-other-resolver-denied", "DNS to another resolver denied",
		"tenants cannot use a DNS server that is not kube-dns (an in-cluster stand-in resolver on port 53)",
		model.ReachBlocked, dnsPaths(func(t *Topology) (string, string, string) {
			return "stand-in resolver", t.StandIn.String(), t.StandIn.IP
		})),
}

var workloadsIsolated = func() Check {
	c := check("workloads-isolated", "tenant workloads unreachable from outside the tenant (live)",
		"each workload shape of a tenant, mimicked by a never-Ready probe pod with its labels and real ports, is unreachable by pod IP on each of those ports "+
			"from every workload shape of the other tenants, a new pod without labels there, a namespace of no tenant, and the shared namespaces not allowed to the tenant",
		model.ReachBlocked, workloadPaths)
	c.NoPaths = "no tenant namespace runs a workload that serves a port (a provisioned run's tenants hold only tenantcheck's probes)"
	return c
}()

// sharedIngress: a shared namespace reaches each tenant it serves. Where the
// tenant runs workloads (audit), reaching the probe server or any real port
// of any of them is enough: a tenant may admit the ingress only to its web
// pods, not to tenantcheck's.
var sharedIngress = func() Check {
	servers := pairs(bothProtocols, func(from, to Peer) bool {
		return from.Role == RoleShared && to.Role == RoleTenant && slices.Contains(from.AllowedTo, to.Tenant)
	})
	c := check("shared-ingress-allowed", "shared namespace to tenant allowed",
		"a declared shared namespace (e.g. ingress) reaches the tenants it serves: every probe path, or, where the tenant runs workloads, at least one path to them or to the probe server",
		model.ReachAllowed, func(t *Topology) []Path { return append(servers(t), sharedWorkloadPaths(t)...) })
	c.Group = func(t *Topology, p Path) string {
		if !t.hasMimics(p.ToNamespace) {
			return ""
		}
		return p.From.Namespace + ">" + p.ToNamespace
	}
	return c
}()

func crossTenant(from, to Peer) bool {
	return from.Role == RoleTenant && to.Role == RoleTenant && from.Tenant != to.Tenant
}

// pairs covers every (from, to) pair of probe-pod peers that keep selects,
// for each protocol and every way of addressing the target.
func pairs(protos []probes.Protocol, keep func(from, to Peer) bool) func(t *Topology) []Path {
	return func(t *Topology) []Path {
		var out []Path
		targets := t.targets()
		for i := range t.Peers {
			from := &t.Peers[i] // paths point at their source; a Peer is large
			for _, to := range targets(*from) {
				if from.Role == RoleCanary || to.Role == RoleCanary || !keep(*from, to) || !t.liveTenants(*from, to) {
					continue
				}
				for _, proto := range protos {
					for _, via := range allVias {
						out = append(out, serverPath(t, from, to, proto, via))
						out = append(out, otherFamilyPaths(t, from, to, proto, via)...)
					}
				}
			}
		}
		return out
	}
}

func serverPath(t *Topology, from *Peer, to Peer, proto probes.Protocol, via model.Via) Path {
	p := Path{From: from, FromPod: from.Client, To: to.Display, ToPod: to.Server.String(), ToNode: to.Server.Node, ToNamespace: to.Namespace,
		Port: probes.ServePort, Protocol: proto, Via: via, Host: serverHost(to, via)}
	if from.Namespace != to.Namespace {
		// The keys of serverPath(to, to) and sourceControl(from).
		p.Control = pathKey(to.Client, p.Host, probes.ServePort, proto, "")
		p.SourceControl = pathKey(from.Client, from.Server.IP, probes.ServePort, proto, "")
	}
	return p
}

// serverHost is how a path by via addresses a peer's probe server.
func serverHost(to Peer, via model.Via) string {
	switch via {
	case model.ViaPodIP:
		return to.Server.IP
	case model.ViaServiceIP:
		return to.ServiceIP
	case model.ViaServiceName:
		return to.ServiceName
	}
	return ""
}

// otherFamilyPaths are the paths to the target's addresses of its other IP
// families (dual-stack), each with the control of the same address.
func otherFamilyPaths(t *Topology, from *Peer, to Peer, proto probes.Protocol, via model.Via) []Path {
	var hosts []string
	switch via {
	case model.ViaPodIP:
		hosts = to.Server.OtherIPs
	case model.ViaServiceIP:
		hosts = to.OtherServiceIPs
	}
	var out []Path
	for _, h := range hosts {
		p := serverPath(t, from, to, proto, via)
		p.Host, p.Family = h, family(h)
		if p.Control != "" {
			c := serverPath(t, &to, to, proto, via)
			c.Host, c.Family = h, family(h)
			p.Control = c.Key()
		}
		out = append(out, p)
	}
	return out
}

func family(ip string) string {
	if strings.Contains(ip, ":") {
		return "IPv6"
	}
	return "IPv4"
}

// dnsPaths: every tenant asks a resolver a DNS question over UDP and TCP. The
// control is the outsider namespace asking the same resolver: it has no
// policy, so it reaches any resolver that is up.
func dnsPaths(target func(t *Topology) (name, pod, ip string)) func(t *Topology) []Path {
	return func(t *Topology) []Path {
		name, pod, ip := target(t)
		if ip == "" {
			return nil // no such resolver here: the check says why
		}
		outsider, hasOutsider := t.peerRef(RoleOutsider)
		var out []Path
		for i := range t.Peers {
			from := &t.Peers[i]
			if from.Role != RoleTenant {
				continue
			}
			for _, proto := range bothProtocols {
				p := Path{From: from, FromPod: from.Client, To: name, ToPod: pod, Host: ip,
					Port: probes.ServeDNSPort, Protocol: proto, Mode: probes.DNS, Via: model.ViaServiceIP}
				if pod != "" {
					p.Via = model.ViaPodIP
				}
				if hasOutsider {
					c := p
					c.From, c.FromPod = outsider, outsider.Client
					p.Control = c.Key()
					p.SourceControl = sourceControl(t, from, probes.TCP).Key()
				}
				out = append(out, p)
			}
		}
		return out
	}
}

// sourceControl is the source's own-namespace path: its success in a round
// shows that the source pod's network worked then.
func sourceControl(t *Topology, from *Peer, proto probes.Protocol) Path {
	return serverPath(t, from, *from, proto, model.ViaPodIP)
}

// controlPaths returns the paths that serve as positive controls for paths
// (of the target, and of the source) and are not among them already.
func controlPaths(t *Topology, paths []Path, keys []string) []Path {
	have := make(map[string]bool, len(keys))
	for _, k := range keys {
		have[k] = true
	}
	outsider, ok := t.peerRef(RoleOutsider)
	if !ok {
		outsider = &Peer{}
	}
	byServer := make(map[string]*Peer, len(t.Peers))
	for i := range t.Peers {
		byServer[t.Peers[i].Server.String()] = &t.Peers[i] // the last peer of a server, as before
	}
	var out []Path
	add := func(c Path) {
		if !have[c.Key()] {
			have[c.Key()] = true
			out = append(out, c)
		}
	}
	for _, p := range paths {
		if len(p.controls) > 0 {
			for _, c := range p.controls {
				add(c)
			}
			continue
		}
		if p.SourceControl != "" && !have[p.SourceControl] {
			proto := p.Protocol
			if p.Mode == probes.DNS {
				proto = probes.TCP
			}
			add(sourceControl(t, p.From, proto))
		}
		if p.Control == "" || have[p.Control] {
			continue
		}
		c := p
		c.Control, c.SourceControl = "", ""
		if p.Mode == probes.DNS {
			c.From, c.FromPod = outsider, outsider.Client
			c.SourceControl = "" // the outsider's question is the control
		} else if peer, ok := byServer[p.ToPod]; ok {
			c.From, c.FromPod = peer, peer.Client
		}
		add(c)
	}
	return out
}
