package network

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/probes"
)

// Execer runs a command in a container: internal/kube's Client in real runs.
type Execer interface {
	Exec(ctx context.Context, ns, pod, container string, cmd []string, stdin []byte) (string, string, error)
	ReproExec(ns, pod, container string, cmd []string) string
}

// Observation is what the probes saw of one path over all its attempts.
type Observation struct {
	Path    Path
	Results []probes.Result // one per attempt, in order
	// Rounds and At say in which round (0-based) and when each attempt ran:
	// a block counts only in a round in which the path's control connected.
	Rounds   []int
	At       []time.Time
	Duration time.Duration
	// decision is what all attempts together say (see decide); nil until
	// the observation is settled.
	decision *decision
}

// Last is the final attempt's result.
func (o *Observation) Last() probes.Result { return o.Results[len(o.Results)-1] }

// Reach is what the path's attempts prove together, once settled; before
// that, what its last attempt says.
func (o *Observation) Reach() model.Reach {
	if o.decision != nil {
		return o.decision.reach
	}
	return model.ReachOf(model.Outcome(o.Last().Outcome))
}

// Why explains Reach in words ("" before the observation is settled).
func (o *Observation) Why() string {
	if o.decision != nil {
		return o.decision.why
	}
	return ""
}

// connectedIn reports whether an attempt in round connected.
func (o *Observation) connectedIn(round int) bool {
	for i, r := range o.Results {
		if o.Rounds[i] == round && r.Outcome == probes.Connected {
			return true
		}
	}
	return false
}

func (o *Observation) add(round int, at time.Time, r probes.Result, took time.Duration) {
	o.Results = append(o.Results, r)
	o.Rounds = append(o.Rounds, round)
	o.At = append(o.At, at)
	o.Duration += took
}

// prober runs rounds of probes: one exec per source pod per round, the
// targets of each pod probed concurrently inside the agent.
type prober struct {
	exec    Execer
	timeout time.Duration
	// nonce is the run's: TCP connects must read it in the target's greeting.
	nonce string
	// domain is the cluster's DNS domain: DNS probes ask for
	// kubernetes.default.svc.<domain>.
	domain string
}

// round probes paths and returns one result per path key.
func (p *prober) round(ctx context.Context, paths []Path) map[string]probes.Result {
	bySource := map[string][]Path{} // by source pod, namespace/name
	for _, path := range paths {
		k := path.FromPod.String()
		bySource[k] = append(bySource[k], path)
	}
	out := make(map[string]probes.Result, len(paths))
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, ps := range bySource {
		pod := ps[0].FromPod
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			res := p.batch(ctx, pod, ps)
			mu.Lock()
			defer mu.Unlock()
			for k, r := range res {
				out[k] = r
			}
		}()
	}
	wg.Wait()
	return out
}

// TargetsInFlight bounds the probes one agent runs at once; with eight
// execs in flight, about a thousand probes at most. All of a pod's targets
// at once (330 at 50 tenants, 2,600 in flight) starved a 2-core node:
// allowed paths timed out twice while their controls connected, a false
// Broken. 32 made 20 tenants probe in 29 s instead of 12.
const TargetsInFlight = 128

// batch runs one exec of the agent in pod. When the exec itself fails, every
// path gets an "other" outcome that says so: an exec failure is never a block.
func (p *prober) batch(ctx context.Context, pod Pod, paths []Path) map[string]probes.Result {
	ms := int(p.timeout.Milliseconds())
	b := probes.Batch{TimeoutMs: ms, Concurrency: min(len(paths), TargetsInFlight)}
	seen := map[string]bool{}
	for _, path := range paths {
		if !seen[path.Key()] {
			seen[path.Key()] = true
			t := path.Target(ms)
			if t.Protocol == probes.TCP && t.Mode != probes.DNS {
				t.Nonce = p.nonce
			}
			if t.Mode == probes.DNS && p.domain != "" {
				t.QueryName = "kubernetes.default.svc." + p.domain + "."
			}
			b.Targets = append(b.Targets, t)
		}
	}
	in, _ := json.Marshal(b)
	// The outer budget: every wave of probes its connect timeout and its
	// name lookup's, plus room for exec itself.
	waves := (len(b.Targets) + TargetsInFlight - 1) / TargetsInFlight
	ctx, cancel := context.WithTimeout(ctx, time.Duration(max(waves, 1))*(p.timeout+probes.ResolveTimeout)+15*time.Second)
	defer cancel()
	stdout, stderr, err := p.exec.Exec(ctx, pod.Namespace, pod.Name, ContainerName, []string{probes.AgentPath, "batch"}, in)
	out := map[string]probes.Result{}
	var ans probes.Answer
	if err == nil {
		err = json.Unmarshal([]byte(stdout), &ans)
	}
	if err != nil {
		detail := fmt.Sprintf("probe agent in %s could not run: %v %s", pod, err, strings.TrimSpace(stderr))
		for _, t := range b.Targets {
			out[t.ID] = probes.Result{Target: t, Outcome: probes.Other, Detail: detail}
		}
		return out
	}
	for _, r := range ans.Results {
		out[r.Target.ID] = r
	}
	for _, t := range b.Targets {
		if _, ok := out[t.ID]; !ok {
			out[t.ID] = probes.Result{Target: t, Outcome: probes.Other, Detail: "the agent returned no result for this target"}
		}
	}
	return out
}

// observe probes every path once, then re-probes, together with their
// controls, the paths not yet settled (see decide), up to retries more
// rounds, interval apart. Every attempt is kept with its round and time,
// and at the end every observation with an expectation is settled.
func (p *prober) observe(ctx context.Context, paths []Path, want map[string]model.Reach, retries int, interval time.Duration) map[string]*Observation {
	obs := map[string]*Observation{}
	byKey := map[string]Path{}
	for _, path := range paths {
		byKey[path.Key()] = path
	}
	todo := dedupe(paths) // a path listed twice is still one attempt per round
	for round := 0; round <= retries && len(todo) > 0; round++ {
		if round > 0 {
			select {
			case <-ctx.Done():
				return settle(obs, want)
			case <-time.After(interval):
			}
		}
		at := time.Now()
		res := p.round(ctx, todo)
		took := time.Since(at)
		for _, path := range todo {
			k := path.Key()
			o := obs[k]
			if o == nil {
				o = &Observation{Path: path}
				obs[k] = o
			}
			o.add(round, at, res[k], took)
		}
		var again []Path
		for _, path := range todo {
			w, ok := want[path.Key()]
			if !ok || decide(w, obs[path.Key()], obs[path.Control], obs[path.SourceControl]).settled {
				continue
			}
			again = append(again, path)
			for _, k := range []string{path.Control, path.SourceControl} {
				if c, ok := byKey[k]; ok {
					again = append(again, c) // the controls are tried in the same round
				}
			}
		}
		todo = dedupe(again)
	}
	return settle(obs, want)
}

// settle records each observation's decision.
func settle(obs map[string]*Observation, want map[string]model.Reach) map[string]*Observation {
	for k, o := range obs {
		if w, ok := want[k]; ok {
			d := decide(w, o, obs[o.Path.Control], obs[o.Path.SourceControl])
			o.decision = &d
		}
	}
	return obs
}

func dedupe(paths []Path) []Path {
	seen := map[string]bool{}
	var out []Path
	for _, p := range paths {
		if !seen[p.Key()] {
			seen[p.Key()] = true
			out = append(out, p)
		}
	}
	return out
}
