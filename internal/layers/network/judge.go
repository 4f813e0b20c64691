package network

import (
	"encoding/json"
	"fmt"
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

func judgeCheck(c Check, t *Topology, obs map[string]*Observation, repro func(Path) string, cause string) model.Result {
	want := c.Expected.Reach
	paths := c.Paths(t)
	if len(paths) == 0 {
		return c.Result(model.Skipped("no path of this kind in the tenancy spec"))
	}
	counts := map[model.Verdict]int{}
	var evidence, heldEvidence []model.Evidence
	var firstBroken, firstError string
	var total time.Duration
	attempts := 0
	for _, p := range paths {
		o := obs[p.Key()]
		if o == nil {
			counts[model.VerdictError]++
			firstError = "a path was never probed"
			continue
		}
		j := judgePath(want, o, obs)
		counts[j.Verdict]++
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
	default:
		j = model.Held(fmt.Sprintf("all %d paths %s", n, strings.ToLower(string(want))))
	}
	r := c.Result(j)
	r.Expected = fmt.Sprintf("%s on all %d paths", want, n)
	r.Observed = fmt.Sprintf("%d held, %d broken, %d error", counts[model.VerdictHeld], counts[model.VerdictBroken], counts[model.VerdictError])
	r.Evidence = append(evidence, heldEvidence...)
	r.Attempts = attempts
	r.Duration = model.Millis(total)
	return r
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
	return model.Evidence{
		Action:   fmt.Sprintf("%s (%s%s)", describe(p), net(p), placement(p, o)),
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
	var out []model.Matrix
	for _, proto := range bothProtocols {
		for _, via := range allVias {
			m := model.NewMatrix(model.Protocol(strings.ToUpper(string(proto))), probes.ServePort, via, peers)
			for _, c := range checks {
				for _, p := range c.Paths(t) {
					if p.Mode == probes.DNS || p.Protocol != proto || p.Via != via || p.Family != "" {
						continue // matrices show the primary family
					}
					_ = m.SetExpected(p.From.Display, p.To, c.Expected.Reach)
					if o := obs[p.Key()]; o != nil {
						_ = m.SetObserved(p.From.Display, p.To, o.Reach())
					}
				}
			}
			out = append(out, *m)
		}
	}
	return out
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
