package network

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/probes"
)

// maxEvidence bounds the evidence items kept per check; the reason says how
// many more paths disagreed.
const maxEvidence = 16

// maxHeldEvidence bounds the evidence kept of held paths per check: every
// attempt of every path is kept up to this many paths.
const maxHeldEvidence = 64

// judge compares each check's paths with what was observed. It is pure: the
// observations are values, the expectation comes from the check.
func judge(checks []Check, t *Topology, obs map[string]*Observation, repro func(Path) string, cause string) []model.Result {
	var out []model.Result
	for _, c := range checks {
		out = append(out, judgeCheck(c, t, obs, repro, cause))
	}
	return out
}

// judgeOne judges one path of a check on its own (before any grouping).
func judgeOne(want model.Reach, p Path, obs map[string]*Observation, unready func(Path) string) model.Judgement {
	if why := unready(p); why != "" {
		return model.Errored(why)
	}
	if o := obs[p.Key()]; o != nil {
		return judgePath(want, o, obs)
	}
	return model.Errored("a path was never probed")
}

// tenantPairs is the network column of the report's tenant x tenant
// summary: per ordered pair of tenants, the worst verdict of every path of
// every check from one tenant's pod to the other tenant's namespace.
func tenantPairs(checks []Check, t *Topology, obs map[string]*Observation) []model.PairVerdict {
	tenantOf := map[string]string{}
	for _, p := range t.Peers {
		if p.Role == RoleTenant {
			tenantOf[p.Namespace] = p.Tenant
		}
	}
	unready := t.unreadyFunc()
	tally := model.NewPairTally(model.LayerNetwork)
	for _, c := range checks {
		for _, p := range c.Paths(t) {
			to, ok := tenantOf[p.ToNamespace]
			if !ok || p.From == nil || p.From.Role != RoleTenant {
				continue
			}
			tally.Add(p.From.Tenant, to, judgeOne(c.Expected.Reach, p, obs, unready).Verdict)
		}
	}
	return tally.Verdicts()
}

func judgeCheck(c Check, t *Topology, obs map[string]*Observation, repro func(Path) string, cause string) model.Result {
	want := c.Expected.Reach
	paths := c.Paths(t)
	if len(paths) == 0 {
		why := c.NoPaths
		if why == "" {
			why = "no path of this kind in the tenancy spec"
		}
		return c.Result(model.Skipped(why + t.notMimickedNote()))
	}
	judged := make([]model.Judgement, len(paths))
	unready := t.unreadyFunc()
	for i, p := range paths {
		judged[i] = judgeOne(want, p, obs, unready)
	}
	served, servedExample := 0, ""
	if c.Group != nil {
		judged, served, servedExample = judgeGroups(c, t, paths, judged)
	}
	counts := map[model.Verdict]int{}
	var evidence, heldEvidence []model.Evidence
	var firstBroken, firstError string
	var stricter []string
	var total time.Duration
	attempts := 0
	for i, p := range paths {
		j := judged[i]
		o := obs[p.Key()]
		if o == nil {
			counts[model.VerdictError]++
			if firstError == "" {
				firstError = fmt.Sprintf("%s -> %s %s: %s", p.From.Display, p.To, describe(p), j.Reason)
			}
			continue
		}
		counts[j.Verdict]++
		if j.Verdict == model.VerdictHeld && want == model.ReachBlocked && p.PolicyAllows {
			stricter = append(stricter, fmt.Sprintf("%s -> %s %s", p.FromPod, p.To, describe(p)))
		}
		attempts += len(o.Results)
		total += o.Duration
		if j.Verdict == model.VerdictHeld {
			if len(heldEvidence) < maxHeldEvidence {
				e := evidenceOf(p, o, repro(p))
				e.Verdict = j.Verdict
				heldEvidence = append(heldEvidence, e)
			}
			continue
		}
		line := fmt.Sprintf("%s -> %s %s", p.From.Display, p.To, describe(p))
		if p.ToPod != "" && strings.HasPrefix(p.ToPod, p.ToNamespace+"/"+mimicPrefix) {
			line = fmt.Sprintf("%s -> %s %s", originName(t, p), p.To, describe(p))
		}
		if j.Verdict == model.VerdictBroken && p.Policy != "" {
			j.Reason += "; policy: " + p.Policy
			if want == model.ReachBlocked && !p.PolicyAllows {
				j.Reason += ": the CNI does not enforce it"
			}
		}
		if j.Verdict == model.VerdictBroken && firstBroken == "" {
			firstBroken = line + ": " + j.Reason
		}
		if j.Verdict == model.VerdictError && firstError == "" {
			firstError = line + ": " + j.Reason
		}
		if len(evidence) < maxEvidence {
			e := evidenceOf(p, o, repro(p))
			e.Verdict = j.Verdict
			evidence = append(evidence, e)
		}
	}
	n := len(paths)
	var j model.Judgement
	switch {
	case counts[model.VerdictBroken] > 0:
		reason := fmt.Sprintf("%d of %d paths broken, e.g. %s", counts[model.VerdictBroken], n, firstBroken)
		if cause != "" && want == model.ReachBlocked {
			reason += "; " + cause
		}
		j = model.Broken(reason)
	case counts[model.VerdictError] > 0:
		j = model.Errored(fmt.Sprintf("%d of %d paths could not be judged, e.g. %s", counts[model.VerdictError], n, firstError))
	case served > 0:
		j = model.Held(fmt.Sprintf("%d of %d paths allowed; the other %d, to tenantcheck's probe server or other workloads, were not reached, but their namespace was served through another path, e.g. %s",
			n-served, n, served, servedExample))
	default:
		j = model.Held(fmt.Sprintf("all %d paths %s", n, strings.ToLower(string(want))))
	}
	if len(stricter) > 0 {
		j.Reason += fmt.Sprintf("; warning: %d path(s) blocked although policy allows them (the CNI is stricter than the policy, or ignores it), e.g. %s",
			len(stricter), stricter[0])
	}
	if c.NoPaths != "" {
		j.Reason += t.notMimickedNote()
	}
	r := c.Result(j)
	r.Expected = fmt.Sprintf("%s on all %d paths", want, n)
	r.Observed = fmt.Sprintf("%d held, %d broken, %d error", counts[model.VerdictHeld], counts[model.VerdictBroken], counts[model.VerdictError])
	r.Evidence = append(evidence, heldEvidence...)
	r.Attempts = attempts
	r.Duration = model.Millis(total)
	return r
}

// judgeGroups: in a check whose paths are grouped, a group of which one
// path reached holds as a whole; its other paths are Held with that said.
func judgeGroups(c Check, t *Topology, paths []Path, judged []model.Judgement) (out []model.Judgement, served int, example string) {
	reached := map[string]string{}
	for i, p := range paths {
		if g := c.Group(t, p); g != "" && judged[i].Verdict == model.VerdictHeld {
			if _, ok := reached[g]; !ok {
				reached[g] = fmt.Sprintf("%s %s", p.To, describe(p))
			}
		}
	}
	out = slices.Clone(judged)
	for i, p := range paths {
		g := c.Group(t, p)
		if by, ok := reached[g]; ok && g != "" && out[i].Verdict != model.VerdictHeld {
			out[i] = model.Held(fmt.Sprintf("not reached, but the namespace is served: %s was reached (%s)", by, out[i].Reason))
			if served == 0 {
				example = fmt.Sprintf("%s -> %s %s not reached, %s reached", p.From.Display, p.To, describe(p), by)
			}
			served++
		}
	}
	return out, served, example
}

// originName names where a path to a mimic starts: a mimic's workload, or
// a probe pod.
func originName(t *Topology, p Path) string {
	for _, m := range t.Mimics {
		if m.Pod.Namespace == p.FromPod.Namespace && m.Pod.Name == p.FromPod.Name {
			return m.Display()
		}
	}
	return p.FromPod.String()
}

// judgePath compares what a path's attempts proved (decide) with what the
// check expects of it.
func judgePath(want model.Reach, o *Observation, obs map[string]*Observation) model.Judgement {
	d := decide(want, o, obs[o.Path.Control], obs[o.Path.SourceControl])
	switch {
	case d.reach == model.ReachError:
		return model.Errored(d.why)
	case d.reach == want:
		return model.Held(fmt.Sprintf("%s as expected: %s", strings.ToLower(string(want)), d.why))
	}
	return model.Broken(fmt.Sprintf("%s, expected %s: %s", strings.ToLower(string(d.reach)), strings.ToLower(string(want)), d.why))
}

func describe(p Path) string {
	if p.Mode == probes.DNS {
		return fmt.Sprintf("DNS %s/%d", strings.ToUpper(string(p.Protocol)), p.Port)
	}
	if p.Family != "" {
		return fmt.Sprintf("%s/%d via %s (%s)", strings.ToUpper(string(p.Protocol)), p.Port, p.Via.Title(), p.Family)
	}
	return fmt.Sprintf("%s/%d via %s", strings.ToUpper(string(p.Protocol)), p.Port, p.Via.Title())
}

func evidenceOf(p Path, o *Observation, repro string) model.Evidence {
	outcomes := make([]string, len(o.Results))
	for i, r := range o.Results {
		outcomes[i] = fmt.Sprintf("round %d at %s: %s %.0fms", o.Rounds[i]+1, o.At[i].UTC().Format("15:04:05.000"), r.Outcome, r.LatencyMs)
	}
	last, _ := json.Marshal(o.Last())
	to := p.To
	if p.ToPod != "" {
		to = p.ToPod
	}
	action := fmt.Sprintf("%s (%s%s)", describe(p), net(p), placement(p, o))
	if p.Policy != "" {
		action += "; policy: " + p.Policy
	}
	if p.ControlNote != "" {
		action += "; " + p.ControlNote
	}
	return model.Evidence{
		Action:   action,
		From:     p.FromPod.String(),
		To:       to,
		Outcome:  model.Outcome(o.Last().Outcome),
		Raw:      fmt.Sprintf("attempts: %s; last: %s", strings.Join(outcomes, ", "), last),
		Attempts: len(o.Results),
		Duration: model.Millis(o.Duration),
		Repro:    repro,
	}
}

func net(p Path) string { return p.Host + ":" + strconv.Itoa(p.Port) }

// agentArgs is the agent command line that reproduces one path; a TCP
// connect names the run's nonce, so the repro too tells the target agent's
// greeting from a proxy's.
func agentArgs(p Path, timeout time.Duration, nonce string) []string {
	mode := p.Mode
	if mode == "" {
		mode = probes.Connect
	}
	args := []string{probes.AgentPath, "connect", "--host", p.Host, "--port", strconv.Itoa(p.Port),
		"--protocol", string(p.Protocol), "--mode", string(mode), "--timeout", timeout.String()}
	if nonce != "" && p.Protocol == probes.TCP && mode == probes.Connect {
		args = append(args, "--nonce", nonce)
	}
	return args
}

// matrices lays the connect paths of every check out as reachability
// matrices, one per protocol and way of addressing.
func matrices(checks []Check, t *Topology, obs map[string]*Observation) []model.Matrix {
	var peers []string
	for _, p := range t.Peers {
		if p.Role != RoleCanary {
			peers = append(peers, p.Display)
		}
	}
	type combo struct {
		proto probes.Protocol
		via   model.Via
	}
	byCombo := map[combo]*model.Matrix{}
	var out []*model.Matrix
	for _, proto := range bothProtocols {
		for _, via := range allVias {
			m := model.NewMatrix(model.Protocol(strings.ToUpper(string(proto))), probes.ServePort, via, peers)
			byCombo[combo{proto, via}] = m
			out = append(out, m)
		}
	}
	for _, c := range checks {
		for _, p := range c.Paths(t) {
			if p.Mode == probes.DNS || p.Family != "" {
				continue // matrices show the primary family
			}
			m := byCombo[combo{p.Protocol, p.Via}]
			if m == nil {
				continue
			}
			_ = m.SetExpected(p.From.Display, p.To, c.Expected.Reach)
			if o := obs[p.Key()]; o != nil {
				_ = m.SetObserved(p.From.Display, p.To, o.Reach())
			}
		}
	}
	ms := make([]model.Matrix, len(out))
	for i, m := range out {
		m.Sort()
		ms[i] = *m
	}
	return ms
}

// placement says whether a path stayed on one node or crossed nodes, when
// both ends are probe pods whose nodes are known.
func placement(p Path, _ *Observation) string {
	if p.FromPod.Node == "" || p.ToNode == "" {
		return ""
	}
	if p.FromPod.Node == p.ToNode {
		return ", same node " + p.ToNode
	}
	return ", cross-node " + p.FromPod.Node + " -> " + p.ToNode
}
