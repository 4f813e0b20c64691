package network

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/tenantcheck/tenantcheck/internal/kube"
	"github.com/tenantcheck/tenantcheck/internal/layer"
	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/probes"
)

// Layer is the network layer as the runner holds it.
var Layer = layer.Layer{
	ID:         model.LayerNetwork,
	Summary:    "probes every path by TCP and UDP, via pod IP, ClusterIP and service name, and DNS",
	Checks:     allChecks(),
	Needs:      layer.Perms(slices.Concat(permissions, mimicPermissions(), staticPermissions)...),
	Creates:    []schema.GroupVersionResource{{Version: "v1", Resource: "pods"}, {Version: "v1", Resource: "services"}},
	PlacesPods: true,
	Footprint: "pods tc-probe-server and tc-probe-client (restricted, 100m CPU and 64Mi limits each, owned by Service tc-probe so no controller adopts them, " +
		"without app.kubernetes.io/part-of where a Service of the tenant's selects on it) and Service tc-probe; " +
		"one mimic pod per workload shape, up to --max-shapes, and one without labels (tc-mimic-N: the shape's labels, never Ready, owned by tc-probe, same limits); all for the run's probes only",
	Run: run,
}

// permissions: probe pods and their Services in every namespace of the
// roster, exec into the client pods only, kube-dns's Service, and the
// canary's policy in the run's own canary namespace.
var permissions = []kube.Permission{
	{Verb: "create", Resource: "pods"},
	{Verb: "get", Resource: "pods"},
	{Verb: "create", Resource: "pods", Subresource: "exec", Name: ClientPod},
	{Verb: "get", Resource: "pods", Subresource: "exec", Name: ClientPod},
	{Verb: "get", Resource: "serviceaccounts"},
	{Verb: "create", Resource: "services"},
	{Verb: "get", Resource: "services"},
	{Verb: "create", Group: "networking.k8s.io", Resource: "networkpolicies"},
}

// mimicPermissions: exec into the mimics, by every name they may have.
func mimicPermissions() []kube.Permission {
	var out []kube.Permission
	for _, name := range MimicNames() {
		out = append(out, kube.Permission{Verb: "create", Resource: "pods", Subresource: "exec", Name: name},
			kube.Permission{Verb: "get", Resource: "pods", Subresource: "exec", Name: name})
	}
	return out
}

// allChecks: the canary, every path check, then the static checks.
func allChecks() []model.Check {
	return append(probeChecks(), staticCheck, gamedCheck)
}

// probeChecks: the canary, then every path check: what Run judges.
func probeChecks() []model.Check {
	out := []model.Check{canaryCheck}
	for _, c := range Checks {
		out = append(out, c.Check)
	}
	return out
}

// DNSSpec says where cluster DNS lives; the runner sets it from the spec.
type DNSSpec struct{ Namespace, Service string }

func run(ctx context.Context, env *layer.Env) layer.Output {
	peers := Peers(env.Roster)
	inv, invErr := readInventory(ctx, env.Client, peers, env.Probe.WithDefaults().MaxShapes)
	out := Run(ctx, env.Client, Input{
		Peers: peers, DNS: dnsOf(env), Probe: env.Probe, Labels: env.Labels, Say: env.Say, Nonce: env.RunID, Inventory: inv,
	})
	static, open := staticResults(env.Client, inv, invErr)
	return layer.Output{
		Results: append(out.Results, static...), Matrices: out.Matrices, EnforcementLatency: out.EnforcementLatency,
		WorkloadPaths: mergePaths(out.WorkloadPaths, open), Pairs: out.Pairs, TenantPairs: out.TenantPairs,
		Phases: []model.PhaseTiming{{Phase: "deploy", Duration: model.Millis(out.DeployTime)}, {Phase: "probe", Duration: model.Millis(out.ProbeTime)}},
	}
}

// dnsOf is where cluster DNS lives: the roster's DNS member, else kube-dns.
func dnsOf(env *layer.Env) DNSSpec {
	if env.Roster.DNSNamespace != "" {
		return DNSSpec{Namespace: env.Roster.DNSNamespace, Service: env.Roster.DNSService}
	}
	return DNSSpec{Namespace: "kube-system", Service: "kube-dns"}
}

// Peers are the roster's namespaces, before the cluster gave them pods.
func Peers(r model.Roster) []Peer {
	out := make([]Peer, len(r.Members))
	for i, m := range r.Members {
		out[i] = Peer{Member: m}
	}
	return out
}

// TenantPeers are the roster's tenant namespaces only: what a watch probes.
func TenantPeers(r model.Roster) []Peer {
	var out []Peer
	for _, p := range Peers(r) {
		if p.Role == RoleTenant {
			out = append(out, p)
		}
	}
	return out
}

// Input is what the network layer needs from the run.
type Input struct {
	Peers  []Peer // namespaces and their roles; pods are filled in by Deploy
	DNS    DNSSpec
	Probe  layer.ProbeSettings
	Labels map[string]string
	// Nonce goes into every probe server's TCP greeting, and every TCP
	// connect must read it back (a sidecar's handshake is not a connection).
	Nonce string
	// Say reports progress; nil is quiet.
	Say func(format string, args ...any)
	// Inventory is what the tenants run and their policies; with it, each
	// workload shape gets a mimic (nil: none).
	Inventory *inventory
}

// Output is the layer's share of the report.
type Output struct {
	Results            []model.Result
	Matrices           []model.Matrix
	WorkloadPaths      []model.WorkloadPath
	EnforcementLatency time.Duration
	Topology           *Topology
	DeployTime         time.Duration
	ProbeTime          time.Duration
	Pairs              *model.PairCoverage
	TenantPairs        []model.PairVerdict
}

// Run deploys the probe pods, runs the canary, probes every path and judges
// each check. A failure to deploy is no crash: every check is then an Error
// that carries the reason.
func Run(ctx context.Context, c *kube.Client, in Input) *Output {
	cfg := in.Probe.WithDefaults()
	say := in.Say
	if say == nil {
		say = func(string, ...any) {}
	}
	cs := c.Clientset
	out := &Output{}
	start := time.Now()
	say("network: deploying probe pods in %d namespaces", len(in.Peers))
	peers, err := Deploy(ctx, cs, cfg, in.Labels, in.Nonce, in.Peers)
	out.DeployTime = time.Since(start)
	say("network: probe pods ready in %.1fs", out.DeployTime.Seconds())
	for _, p := range peers {
		if p.Unready != "" {
			say("network: no probes in %s, its paths are Errors: %s", p.Namespace, p.Unready)
		}
	}
	if err != nil {
		out.Results = layer.Results(probeChecks(), model.Errored(fmt.Sprintf("probe pods could not be deployed: %v", err)))
		return out
	}
	t := &Topology{Peers: peers, ClusterDomain: cfg.ClusterDomain}
	pairPlan, err := ParsePairs(cfg.Pairs)
	if err != nil {
		out.Results = layer.Results(probeChecks(), model.Errored(err.Error()))
		return out
	}
	var tenants []string
	for _, p := range peers {
		if p.Role == RoleTenant {
			tenants = append(tenants, p.Tenant)
		}
	}
	t.Pairs = pairPlan.Cover(tenants)
	out.Pairs = &model.PairCoverage{Plan: t.Pairs.Plan, Probed: t.Pairs.Probed, Total: t.Pairs.Total}
	if note := t.Pairs.Note(); note != "" {
		say("network: %s", note)
	}
	if svc, err := cs.CoreV1().Services(in.DNS.Namespace).Get(ctx, in.DNS.Service, metav1.GetOptions{}); err == nil {
		t.DNS = DNS{ServiceIP: svc.Spec.ClusterIP, Name: in.DNS.Namespace + "/" + in.DNS.Service}
	}
	if o, ok := t.peer(RoleOutsider); ok {
		t.StandIn = o.Server
	}
	if inv := in.Inventory; inv != nil {
		t.Policies, t.NamespaceLabels = inv.Policies, inv.NamespaceLabels
		if inv.shapes() > 0 {
			say("network: deploying mimics of %d workload shape(s)", inv.shapes())
			t.Mimics, t.NotMimicked = deployMimics(ctx, cs, cfg, in.Labels, in.Nonce, peers, inv)
			say("network: %d mimic(s) running, %d shape(s) not mimicked", len(t.Mimics), len(t.NotMimicked))
		}
	}
	learnDNS(ctx, c, t, say)
	say("network: %s", nodesNote(t))
	out.Topology = t
	start = time.Now()
	pr := &prober{exec: c, timeout: cfg.ProbeTimeout, nonce: in.Nonce, domain: t.ClusterDomain}

	var results []model.Result
	cause := ""
	outsider, okO := t.peer(RoleOutsider)
	can, okC := t.peer(RoleCanary)
	if okO && okC && (outsider.Unready != "" || can.Unready != "") {
		results = append(results, canaryCheck.Result(model.Errored("the canary needs probes in the outsider and the canary namespaces: "+outsider.Unready+can.Unready)))
	} else if okO && okC {
		say("network: canary: measuring NetworkPolicy enforcement")
		r, latency := canary(ctx, cs, pr, in.Labels, outsider, can, cfg.EnforceBudget)
		results = append(results, r)
		out.EnforcementLatency = latency
		if r.Verdict == model.VerdictBroken {
			cause = NotEnforced + " (see network/policy-enforced)"
		}
	}
	paths, want := plan(t)
	say("network: probing %d paths from %d pods", len(paths), sourcePods(paths))
	unready := t.unreadyFunc()
	paths = slices.DeleteFunc(paths, func(p Path) bool { return unready(p) != "" })
	obs := pr.observe(ctx, paths, want, cfg.Retries, cfg.RetryInterval)
	repro := func(p Path) string {
		return c.ReproExec(p.FromPod.Namespace, p.FromPod.Name, ContainerName, agentArgs(p, cfg.ProbeTimeout, in.Nonce))
	}
	results = append(results, judge(Checks, t, obs, repro, cause)...)
	if note := t.Pairs.Note(); note != "" {
		for i := range results {
			if results[i].CheckID == "network/cross-tenant-tcp" || results[i].CheckID == "network/cross-tenant-udp" {
				results[i].Reason += "; " + note
			}
		}
	}
	if t.DNS.ServiceIP == "" {
		results = markDNSMissing(results, in)
	}
	out.Results = results
	out.Matrices = matrices(Checks, t, obs)
	out.TenantPairs = tenantPairs(Checks, t, obs)
	out.WorkloadPaths = livePaths(t, obs)
	out.ProbeTime = time.Since(start)
	say("network: probed in %.1fs", out.ProbeTime.Seconds())
	return out
}

// plan lists every path to probe, controls included, and what each should
// show; a control should be Allowed.
func plan(t *Topology) ([]Path, map[string]model.Reach) {
	var all []Path
	var keys []string
	want := map[string]model.Reach{}
	for _, c := range Checks {
		for _, p := range c.Paths(t) {
			k := p.Key()
			all = append(all, p)
			keys = append(keys, k)
			want[k] = c.Expected.Reach
		}
	}
	controls := controlPaths(t, all, keys)
	// Each key once, the first path of it, then the controls (whose keys
	// are none of the paths').
	paths := make([]Path, 0, len(want)+len(controls))
	seen := make(map[string]bool, len(want))
	for i, p := range all {
		if !seen[keys[i]] {
			seen[keys[i]] = true
			paths = append(paths, p)
		}
	}
	for _, c := range controls {
		paths = append(paths, c)
		if _, ok := want[c.Key()]; !ok {
			want[c.Key()] = model.ReachAllowed
		}
	}
	return paths, want
}

// sourcePods counts the pods the paths start from.
func sourcePods(paths []Path) int {
	from := map[string]bool{}
	for _, p := range paths {
		from[p.FromPod.String()] = true
	}
	return len(from)
}

func markDNSMissing(results []model.Result, in Input) []model.Result {
	for i, r := range results {
		if r.CheckID == "network/dns-kube-dns-allowed" || r.CheckID == "network/dns-other-resolver-denied" {
			results[i].Judgement = model.Errored(fmt.Sprintf("cluster DNS service %s/%s not found: set dns in the tenancy spec", in.DNS.Namespace, in.DNS.Service))
			results[i].Evidence = nil
		}
	}
	return results
}

// learnDNS reads a client pod's resolv.conf, as the kubelet wrote it: its
// search list names the cluster's DNS domain (which then wins over
// --cluster-domain, and service-name paths follow it), and its resolver may
// not be kube-dns (NodeLocal DNSCache), in which case "DNS allowed" is
// judged against the resolver the pods really ask. Without an answer the
// configured values stand.
func learnDNS(ctx context.Context, ex Execer, t *Topology, say func(string, ...any)) {
	var from Pod
	for _, p := range t.Peers {
		if p.Role == RoleTenant && p.Client.Name != "" {
			from = p.Client
			break
		}
	}
	if from.Name == "" {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	stdout, _, err := ex.Exec(ctx, from.Namespace, from.Name, ContainerName, []string{probes.AgentPath, "resolv"}, nil)
	var rc probes.ResolvConf
	if err != nil || json.Unmarshal([]byte(stdout), &rc) != nil {
		say("network: could not read the pods' resolv.conf (%v); cluster domain %s", err, t.ClusterDomain)
		return
	}
	if d := rc.ClusterDomain(); d != "" && d != t.ClusterDomain {
		say("network: cluster domain %s, from the pods' resolv.conf (not %s)", d, t.ClusterDomain)
		t.ClusterDomain = d
		for i, p := range t.Peers {
			t.Peers[i].ServiceName = fmt.Sprintf("%s.%s.svc.%s.", ServiceName, p.Namespace, d)
		}
	}
	if len(rc.Nameservers) > 0 && t.DNS.ServiceIP != "" && rc.Nameservers[0] != t.DNS.ServiceIP {
		t.DNS.Configured = rc.Nameservers[0]
		say("network: pods resolve through %s, not kube-dns's %s (NodeLocal DNSCache?): DNS is judged against it", rc.Nameservers[0], t.DNS.ServiceIP)
	}
}

// nodesNote says over how many nodes the probe pods are spread: on one
// node no path crosses nodes, and the report must not let that go unsaid.
func nodesNote(t *Topology) string {
	nodes := map[string]bool{}
	for _, p := range t.Peers {
		for _, pod := range []Pod{p.Server, p.Client} {
			if pod.Node != "" {
				nodes[pod.Node] = true
			}
		}
	}
	if len(nodes) == 1 {
		return "every probe pod runs on one node: no path crosses nodes (single node)"
	}
	return fmt.Sprintf("probe pods spread over %d nodes", len(nodes))
}
