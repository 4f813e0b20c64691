package network

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/internal/netpol"
	"github.com/tenantcheck/tenantcheck/probes"
)

// The workload paths probe the tenants' real workload shapes through their
// mimics (mimic.go), by pod IP on each real port, and set beside each what
// the policies say of it: intended (the check's expectation), policy (the
// evaluator) and dataplane (the probe).

// origin is where a path to a mimic starts: a mimic, or a probe client.
type origin struct {
	peer Peer
	pod  Pod
	np   *netpol.Pod
	name string
}

func (t *Topology) nsLabels(ns string) map[string]string {
	if l, ok := t.NamespaceLabels[ns]; ok {
		return l
	}
	return map[string]string{corev1.LabelMetadataName: ns}
}

func mimicOrigin(t *Topology, m Mimic) origin {
	return origin{peer: m.Peer, pod: m.Pod, np: m.netpolPod(t.nsLabels(m.Peer.Namespace)), name: m.Display()}
}

func clientOrigin(t *Topology, p Peer) origin {
	return origin{peer: p, pod: p.Client, name: p.Client.String(),
		np: &netpol.Pod{Namespace: p.Namespace, NamespaceLabels: t.nsLabels(p.Namespace), Labels: p.Client.Labels, IP: p.Client.IP}}
}

func (t *Topology) hasMimics(ns string) bool {
	return slices.ContainsFunc(t.Mimics, func(m Mimic) bool { return m.Peer.Namespace == ns })
}

// workloadSources are the origins that must not reach port of the
// workloads of target's tenant: the namespaces of the other tenants, a
// namespace of no tenant, the shared namespaces not allowed to the tenant,
// and those allowed to it when the port is not among the tenant's declared
// ingress ports; from each,
// its mimics (every workload shape, and a new pod without labels), or its
// probe client where it has none.
func workloadSources(t *Topology, target Peer, port corev1.ContainerPort) []origin {
	var out []origin
	for _, p := range t.Peers {
		switch {
		case p.Role == RoleTenant && p.Tenant != target.Tenant,
			p.Role == RoleOutsider,
			p.Role == RoleShared && !slices.Contains(p.AllowedTo, target.Tenant),
			p.Role == RoleShared && !ingressPort(target, port):
		default:
			continue
		}
		if !t.hasMimics(p.Namespace) {
			out = append(out, clientOrigin(t, p))
			continue
		}
		for _, m := range t.Mimics {
			if m.Peer.Namespace == p.Namespace {
				out = append(out, mimicOrigin(t, m))
			}
		}
	}
	return out
}

// workloadPaths: every source to every real port of every mimic.
func workloadPaths(t *Topology) []Path {
	var out []Path
	for _, to := range t.Mimics {
		for _, port := range to.Shape.Ports {
			for _, src := range workloadSources(t, to.Peer, port) {
				out = append(out, mimicPath(t, src, to, port))
			}
		}
	}
	return out
}

// sharedWorkloadPaths: each shared namespace to every real port of every
// mimic of the tenants it is allowed to; with the probe server's paths,
// one of them reaching the namespace shows the shared namespace serves it.
func sharedWorkloadPaths(t *Topology) []Path {
	var out []Path
	for _, from := range t.Peers {
		if from.Role != RoleShared {
			continue
		}
		for _, to := range t.Mimics {
			if !slices.Contains(from.AllowedTo, to.Peer.Tenant) {
				continue
			}
			for _, port := range to.Shape.Ports {
				if ingressPort(to.Peer, port) {
					out = append(out, mimicPath(t, clientOrigin(t, from), to, port))
				}
			}
		}
	}
	return out
}

// ingressPort says whether the shared namespaces allowed to tenant's
// namespace may reach this port of its workloads: any, unless the spec
// lists the tenant's ingress ports.
func ingressPort(tenant Peer, port corev1.ContainerPort) bool {
	if len(tenant.IngressPorts) == 0 {
		return true
	}
	return slices.Contains(tenant.IngressPorts, fmt.Sprintf("%d/%s", port.ContainerPort, strings.ToUpper(string(protocolOf(port.Protocol)))))
}

// mimicPath is one path from src to a real port of mimic to, with its
// controls and what policy says of it.
func mimicPath(t *Topology, src origin, to Mimic, port corev1.ContainerPort) Path {
	p := Path{From: &src.peer, FromPod: src.pod, To: to.Display(), ToPod: to.Pod.String(), ToNode: to.Pod.Node, ToNamespace: to.Peer.Namespace,
		Host: to.Pod.IP, Port: int(port.ContainerPort), Protocol: protocolOf(port.Protocol), Via: model.ViaPodIP}
	ctl := targetControl(t, to, port)
	p.Control, p.ControlNote = ctl.Key(), ctl.ControlNote
	p.controls = []Path{ctl}
	if sc, ok := originControl(t, src, p.Protocol); ok {
		p.SourceControl = sc.Key()
		p.controls = append(p.controls, sc)
	}
	p.PolicyAllows, p.PolicyWhy = t.policyOf(src.np, to.netpolPod(t.nsLabels(to.Peer.Namespace)), port.ContainerPort, port.Protocol)
	if p.PolicyWhy != "" {
		p.Policy = "blocked (" + p.PolicyWhy + ")"
		if p.PolicyAllows {
			p.Policy = "allowed (" + p.PolicyWhy + ")"
		}
	}
	return p
}

func protocolOf(p corev1.Protocol) probes.Protocol {
	if p == corev1.ProtocolUDP {
		return probes.UDP
	}
	return probes.TCP
}

// targetControl is the path whose success shows a mimic's port reachable
// in a round: from the first pod of the run that policy lets reach it (the
// probe client of its namespace, another mimic there, a shared namespace
// allowed to the tenant), else from the mimic itself to its own address,
// which proves the listener only (said in the evidence).
func targetControl(t *Topology, to Mimic, port corev1.ContainerPort) Path {
	dst := to.netpolPod(t.nsLabels(to.Peer.Namespace))
	var candidates []origin
	if p, ok := t.peerIn(to.Peer.Namespace); ok && p.Client.Name != "" {
		candidates = append(candidates, clientOrigin(t, p))
	}
	for _, m := range t.Mimics {
		if m.Peer.Namespace == to.Peer.Namespace && m.Pod.Name != to.Pod.Name {
			candidates = append(candidates, mimicOrigin(t, m))
		}
	}
	for _, p := range t.Peers {
		if p.Role == RoleShared && slices.Contains(p.AllowedTo, to.Peer.Tenant) {
			candidates = append(candidates, clientOrigin(t, p))
		}
	}
	c := Path{From: &to.Peer, FromPod: to.Pod, To: to.Display(), ToPod: to.Pod.String(), ToNode: to.Pod.Node, ToNamespace: to.Peer.Namespace,
		Host: to.Pod.IP, Port: int(port.ContainerPort), Protocol: protocolOf(port.Protocol), Via: model.ViaPodIP,
		ControlNote: "control: the mimic reaching its own address (no pod of the run may reach this port by policy, so only the listener is proven)"}
	for _, o := range candidates {
		if ok, _ := t.policyOf(o.np, dst, port.ContainerPort, port.Protocol); ok {
			c.From, c.FromPod = &o.peer, o.pod
			c.ControlNote = "control: " + o.name + ", which policy lets reach this port"
			break
		}
	}
	return c
}

// originControl is the path whose success shows a source's own network up
// in a round: a probe client's is its own namespace's server; a mimic's,
// its namespace's probe server when policy allows that, else a DNS
// question to the pods' resolver (which tenants allow). ok is false when
// there is neither.
func originControl(t *Topology, src origin, proto probes.Protocol) (Path, bool) {
	peer, ok := t.peerIn(src.peer.Namespace)
	if !ok {
		return Path{}, false
	}
	if src.pod.Name == peer.Client.Name {
		return sourceControl(t, &peer, proto), true
	}
	server := &netpol.Pod{Namespace: peer.Namespace, NamespaceLabels: t.nsLabels(peer.Namespace), Labels: peer.Server.Labels, IP: peer.Server.IP}
	if ok, _ := t.policyOf(src.np, server, probes.ServePort, corev1.ProtocolTCP); ok && peer.Server.IP != "" {
		return Path{From: &peer, FromPod: src.pod, To: peer.Display, ToPod: peer.Server.String(), ToNode: peer.Server.Node, ToNamespace: peer.Namespace,
			Host: peer.Server.IP, Port: probes.ServePort, Protocol: probes.TCP, Via: model.ViaPodIP}, true
	}
	name, ip := t.DNS.Resolver()
	if ip == "" {
		return Path{}, false
	}
	return Path{From: &peer, FromPod: src.pod, To: name, Host: ip, Port: probes.ServeDNSPort, Protocol: probes.UDP, Mode: probes.DNS, Via: model.ViaServiceIP}, true
}

func (t *Topology) peerIn(ns string) (Peer, bool) {
	for _, p := range t.Peers {
		if p.Namespace == ns {
			return p, true
		}
	}
	return Peer{}, false
}

// policyOf is what the NetworkPolicies say of one connection: whether they
// allow it, and a note naming the policies that do, or the sides that
// block it. Without policies read it says nothing.
func (t *Topology) policyOf(from, to *netpol.Pod, port int32, proto corev1.Protocol) (bool, string) {
	if t.NamespaceLabels == nil || from == nil || to == nil {
		return false, ""
	}
	v := netpol.Evaluate(t.Policies, netpol.Connection{From: netpol.Peer{Pod: from}, To: netpol.Peer{Pod: to}, Port: port, Protocol: proto})
	if v.Allowed() {
		return true, why(v, to.Namespace, from.Namespace)
	}
	var sides []string
	if !v.Ingress.Allowed() {
		sides = append(sides, "no ingress rule in "+to.Namespace+" admits it")
	}
	if !v.Egress.Allowed() {
		sides = append(sides, "no egress rule in "+from.Namespace+" lets it out")
	}
	return false, strings.Join(sides, "; ")
}

// shapeName names a workload shape the same way in the static and the live
// columns: "namespace/{labels}", or "namespace/(a new pod without labels)".
func shapeName(ns string, lbls map[string]string) string {
	if len(lbls) == 0 {
		return ns + "/(a new pod without labels)"
	}
	return fmt.Sprintf("%s/{%s}", ns, labels.Set(lbls).String())
}

// noTenant is how both columns name the run's namespace of no tenant.
const noTenant = "(a namespace of no tenant)"

// livePaths are the workload paths that policy or the dataplane opens, as
// the live check saw them.
func livePaths(t *Topology, obs map[string]*Observation) []model.WorkloadPath {
	var out []model.WorkloadPath
	for _, p := range workloadPaths(t) {
		o := obs[p.Key()]
		if o == nil {
			continue
		}
		dataplane := model.ReachError
		switch judgePath(model.ReachBlocked, o, obs).Verdict {
		case model.VerdictBroken:
			dataplane = model.ReachAllowed
		case model.VerdictHeld:
			dataplane = model.ReachBlocked
		}
		if !p.PolicyAllows && dataplane != model.ReachAllowed {
			continue
		}
		from := p.FromPod.String()
		for _, m := range t.Mimics {
			if m.Pod.Namespace == p.FromPod.Namespace && m.Pod.Name == p.FromPod.Name {
				ns := m.Peer.Namespace
				if m.Peer.Role == RoleOutsider {
					ns = noTenant
				}
				from = shapeName(ns, m.Shape.Labels)
			}
		}
		w := model.WorkloadPath{From: from, FromTenant: p.From.Tenant, Port: p.Port, Protocol: model.Protocol(strings.ToUpper(string(p.Protocol))),
			Intended: model.ReachBlocked, Policy: model.ReachBlocked, PolicyWhy: p.PolicyWhy, Dataplane: dataplane}
		if p.PolicyAllows {
			w.Policy = model.ReachAllowed
		}
		for _, m := range t.Mimics {
			if m.Pod.String() == p.ToPod {
				w.To, w.ToTenant = shapeName(m.Peer.Namespace, m.Shape.Labels), m.Peer.Tenant
			}
		}
		out = append(out, w)
	}
	return out
}

// mergePaths keeps every live path and adds the static ones the live
// probe did not try (their dataplane column stays empty).
func mergePaths(live, static []model.WorkloadPath) []model.WorkloadPath {
	key := func(w model.WorkloadPath) string { return fmt.Sprintf("%s>%s:%d/%s", w.From, w.To, w.Port, w.Protocol) }
	seen := map[string]bool{}
	for _, w := range live {
		seen[key(w)] = true
	}
	out := slices.Clone(live)
	for _, w := range static {
		if !seen[key(w)] {
			out = append(out, w)
		}
	}
	slices.SortStableFunc(out, func(a, b model.WorkloadPath) int {
		return strings.Compare(a.Pair()+a.To+a.From, b.Pair()+b.To+b.From)
	})
	return out
}

// mimicControlPaths are the controls of the mimic paths, for the plan.
func mimicControlPaths(paths []Path) []Path {
	var out []Path
	for _, p := range paths {
		out = append(out, p.controls...)
	}
	return out
}

// notMimickedNote says which shapes went untested live; "" when none.
func (t *Topology) notMimickedNote() string {
	if len(t.NotMimicked) == 0 {
		return ""
	}
	return fmt.Sprintf("; not tested live: %s", strings.Join(t.NotMimicked, "; "))
}
