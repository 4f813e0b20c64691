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
	Path     Path
	Results  []probes.Result // one per attempt, in order
	Duration time.Duration
}

// Last is the final result: the one the verdict rests on.
func (o *Observation) Last() probes.Result { return o.Results[len(o.Results)-1] }

// Reach is what the final attempt says about the path.
func (o *Observation) Reach() model.Reach { return model.ReachOf(model.Outcome(o.Last().Outcome)) }

// prober runs rounds of probes: one exec per source pod per round, the
// targets of each pod probed concurrently inside the agent.
type prober struct {
	exec    Execer
	timeout time.Duration
}

// round probes paths and returns one result per path key.
func (p *prober) round(ctx context.Context, paths []Path) map[string]probes.Result {
	bySource := map[Pod][]Path{}
	for _, path := range paths {
		bySource[path.FromPod] = append(bySource[path.FromPod], path)
	}
	out := make(map[string]probes.Result, len(paths))
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for pod, ps := range bySource {
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

// batch runs one exec of the agent in pod. When the exec itself fails, every
// path gets an "other" outcome that says so: an exec failure is never a block.
func (p *prober) batch(ctx context.Context, pod Pod, paths []Path) map[string]probes.Result {
	ms := int(p.timeout.Milliseconds())
	b := probes.Batch{TimeoutMs: ms, Concurrency: len(paths)}
	seen := map[string]bool{}
	for _, path := range paths {
		if !seen[path.Key()] {
			seen[path.Key()] = true
			b.Targets = append(b.Targets, path.Target(ms))
		}
	}
	in, _ := json.Marshal(b)
	// The outer budget: every probe's own timeout, plus room for exec itself.
	ctx, cancel := context.WithTimeout(ctx, 2*p.timeout+15*time.Second)
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

// observe probes every path once, then re-probes those that disagree with
// their expectation (want) up to retries more times, interval apart. Every
// attempt is kept, so the evidence shows a flaky path for what it is.
func (p *prober) observe(ctx context.Context, paths []Path, want map[string]model.Reach, retries int, interval time.Duration) map[string]*Observation {
	obs := map[string]*Observation{}
	todo := dedupe(paths) // a path listed twice is still one attempt per round
	for attempt := 0; attempt <= retries && len(todo) > 0; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return obs
			case <-time.After(interval):
			}
		}
		start := time.Now()
		res := p.round(ctx, todo)
		took := time.Since(start)
		var again []Path
		for _, path := range todo {
			k := path.Key()
			o := obs[k]
			if o == nil {
				o = &Observation{Path: path}
				obs[k] = o
			}
			o.Results = append(o.Results, res[k])
			o.Duration += took
			if w, ok := want[k]; ok && o.Reach() != w {
				again = append(again, path)
			}
		}
		todo = dedupe(again)
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
