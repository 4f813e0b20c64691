package network

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tenantcheck/tenantcheck/internal/model"
)

// Input is what the network layer needs from the run.
type Input struct {
	Peers        []Peer // namespaces and their roles; pods are filled in by Deploy
	DNSNamespace string
	DNSService   string
	Config       Config
	// EnforceBudget bounds the canary's wait for enforcement (default 10s).
	EnforceBudget time.Duration
	// Say reports progress; nil is quiet.
	Say func(format string, args ...any)
}

// Output is the layer's share of the report.
type Output struct {
	Results            []model.Result
	Matrices           []model.Matrix
	EnforcementLatency time.Duration
	Topology           *Topology
	DeployTime         time.Duration
	ProbeTime          time.Duration
}

// Run deploys the probe pods, runs the canary, probes every path and judges
// each check. A failure to deploy is no crash: every check is then an Error
// that carries the reason.
func Run(ctx context.Context, cs kubernetes.Interface, ex Execer, in Input) *Output {
	cfg := in.Config.withDefaults()
	say := in.Say
	if say == nil {
		say = func(string, ...any) {}
	}
	out := &Output{}
	start := time.Now()
	peers, err := Deploy(ctx, cs, cfg, in.Peers)
	out.DeployTime = time.Since(start)
	say("network: probe pods ready in %.1fs", out.DeployTime.Seconds())
	if err != nil {
		out.Results = allErrored(fmt.Sprintf("probe pods could not be deployed: %v", err))
		return out
	}
	t := &Topology{Peers: peers, ClusterDomain: cfg.ClusterDomain}
	if svc, err := cs.CoreV1().Services(in.DNSNamespace).Get(ctx, in.DNSService, metav1.GetOptions{}); err == nil {
		t.DNS = DNS{ServiceIP: svc.Spec.ClusterIP, Name: in.DNSNamespace + "/" + in.DNSService}
	}
	if o, ok := t.peer(RoleOutsider); ok {
		t.StandIn = o.Server
	}
	out.Topology = t
	start = time.Now()
	pr := &prober{exec: ex, timeout: cfg.ProbeTimeout}

	var results []model.Result
	cause := ""
	outsider, okO := t.peer(RoleOutsider)
	can, okC := t.peer(RoleCanary)
	if okO && okC {
		budget := in.EnforceBudget
		if budget <= 0 {
			budget = 10 * time.Second
		}
		say("network: canary: measuring NetworkPolicy enforcement")
		r, latency := canary(ctx, cs, pr, cfg, outsider, can, budget)
		results = append(results, r)
		out.EnforcementLatency = latency
		if r.Verdict == model.VerdictBroken {
			cause = NotEnforced + " (see network/policy-enforced)"
		}
	}
	paths, want := plan(t)
	say("network: probing %d paths from %d pods", len(paths), len(t.Peers)-1)
	obs := pr.observe(ctx, paths, want, cfg.Retries, cfg.RetryInterval)
	repro := func(p Path) string {
		return ex.ReproExec(p.FromPod.Namespace, p.FromPod.Name, ContainerName, agentArgs(p, cfg.ProbeTimeout))
	}
	results = append(results, judge(Checks, t, obs, repro, cause)...)
	if t.DNS.ServiceIP == "" {
		results = markDNSMissing(results, in)
	}
	out.Results = results
	out.Matrices = matrices(Checks, t, obs)
	out.ProbeTime = time.Since(start)
	return out
}

// plan lists every path to probe, controls included, and what each should
// show; a control should be Allowed.
func plan(t *Topology) ([]Path, map[string]model.Reach) {
	var paths []Path
	want := map[string]model.Reach{}
	for _, c := range Checks {
		for _, p := range c.Paths(t) {
			paths = append(paths, p)
			want[p.Key()] = c.Expected.Reach
		}
	}
	for _, c := range controlPaths(t, paths) {
		paths = append(paths, c)
		if _, ok := want[c.Key()]; !ok {
			want[c.Key()] = model.ReachAllowed
		}
	}
	return dedupe(paths), want
}

func allErrored(reason string) []model.Result {
	out := []model.Result{canaryCheck.Result(model.Errored(reason))}
	for _, c := range Checks {
		out = append(out, c.Result(model.Errored(reason)))
	}
	return out
}

func markDNSMissing(results []model.Result, in Input) []model.Result {
	for i, r := range results {
		if r.CheckID == "network/dns-kube-dns-allowed" || r.CheckID == "network/dns-other-resolver-denied" {
			results[i].Judgement = model.Errored(fmt.Sprintf("cluster DNS service %s/%s not found: set dns in the tenancy spec", in.DNSNamespace, in.DNSService))
			results[i].Evidence = nil
		}
	}
	return results
}
