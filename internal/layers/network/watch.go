package network

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tenantcheck/tenantcheck/internal/kube"
	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/internal/watch"
	"github.com/tenantcheck/tenantcheck/probes"
)

// WatchSettings shape a watch.
type WatchSettings struct {
	// Interval is the time between two rounds of a source pod (default 200ms).
	Interval time.Duration
	// Duration ends the watch (ctx may end it sooner).
	Duration time.Duration
}

// WatchOutput is what a watch saw.
type WatchOutput struct {
	Timeline watch.Timeline
	Series   []watch.Series
	// Errors are the source pods whose watch could not run or broke off,
	// with why; their paths have fewer samples or none.
	Errors []string
}

// Watch deploys the probe pods of in.Peers once, then probes, round after
// round, every cross-tenant path by pod IP (TCP and UDP: they must stay
// blocked) and their controls (each target from its own namespace: it must
// stay reachable), one agent watch per source pod streaming its rounds, for
// ws.Duration or until ctx ends. It does not remove the pods: the run's
// cleanup does.
func Watch(ctx context.Context, c *kube.Client, in Input, ws WatchSettings) (*WatchOutput, error) {
	cfg := in.Probe.WithDefaults()
	if ws.Interval <= 0 {
		ws.Interval = 200 * time.Millisecond
	}
	peers, err := Deploy(ctx, c.Clientset, cfg, in.Labels, in.Nonce, in.Peers)
	if err != nil {
		return nil, fmt.Errorf("probe pods could not be deployed: %w", err)
	}
	t := &Topology{Peers: peers, ClusterDomain: cfg.ClusterDomain}
	var tenants []string
	for _, p := range peers {
		if p.Role == RoleTenant {
			tenants = append(tenants, p.Tenant)
		}
	}
	t.Pairs = PairPlan{Strategy: "all"}.Cover(tenants)
	paths, mustBlock := watchPaths(t)
	if len(paths) == 0 {
		return nil, fmt.Errorf("no cross-tenant path to watch: it needs two tenants whose probe pods run")
	}
	// A probe's timeout within the interval: a round of a dropped path
	// lasts the timeout, and a connect inside the cluster takes well
	// under a millisecond.
	timeout := max(ws.Interval*3/4, 100*time.Millisecond)
	bySource := map[string][]Path{}
	var sources []Pod
	for _, p := range paths {
		k := p.FromPod.String()
		if _, ok := bySource[k]; !ok {
			sources = append(sources, p.FromPod)
		}
		bySource[k] = append(bySource[k], p)
	}
	series := map[string]*watch.Series{}
	for _, p := range paths {
		series[p.Key()] = &watch.Series{Path: pathName(p), Node: p.FromPod.Node, MustBlock: mustBlock[p.Key()]}
	}
	in.sayf("watch: %d paths (%d must stay blocked) from %d pods, a round every %s, probe timeout %s, for %s",
		len(paths), countTrue(mustBlock), len(sources), ws.Interval, timeout, ws.Duration)

	var mu sync.Mutex
	var errs []string
	var wg sync.WaitGroup
	for _, src := range sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The timeline of a source starts with its first round in which
			// every control connected: a pod just started may not be
			// reachable yet (its firewall programmed a moment later), which
			// is no outage of the cluster.
			started := false
			err := watchFrom(ctx, c, src, bySource[src.String()], in.Nonce, timeout, ws, func(r probes.Round) {
				if !started {
					started = true
					for _, tick := range r.Ticks {
						if !mustBlock[tick.ID] && tick.Outcome != probes.Connected {
							started = false
						}
					}
					if !started {
						return
					}
				}
				at := time.UnixMilli(r.StartMs)
				mu.Lock()
				defer mu.Unlock()
				for _, tick := range r.Ticks {
					if s := series[tick.ID]; s != nil {
						s.Samples = append(s.Samples, watch.Sample{At: at, Outcome: tick.Outcome})
					}
				}
			})
			if err == nil && !started {
				err = fmt.Errorf("its controls never all connected: nothing it saw proves anything")
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Sprintf("%s: %v", src, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	out := &WatchOutput{Errors: errs}
	for _, p := range paths {
		out.Series = append(out.Series, *series[p.Key()])
	}
	out.Timeline = watch.Analyze(out.Series, 2*ws.Interval)
	return out, nil
}

func (in Input) sayf(format string, args ...any) {
	if in.Say != nil {
		in.Say(format, args...)
	}
}

func countTrue(m map[string]bool) int {
	n := 0
	for _, v := range m {
		if v {
			n++
		}
	}
	return n
}

// watchPaths are the cross-tenant paths by pod IP and their controls, each
// once; mustBlock says which must stay blocked.
func watchPaths(t *Topology) ([]Path, map[string]bool) {
	var block []Path
	var keys []string
	mustBlock := map[string]bool{}
	unready := t.unreadyFunc()
	for _, c := range Checks {
		if c.ID != "network/cross-tenant-tcp" && c.ID != "network/cross-tenant-udp" {
			continue
		}
		for _, p := range c.Paths(t) {
			k := p.Key()
			if p.Via != model.ViaPodIP || p.Family != "" || mustBlock[k] || unready(p) != "" {
				continue
			}
			mustBlock[k] = true
			block = append(block, p)
			keys = append(keys, k)
		}
	}
	paths := slices.Clone(block)
	for _, ctl := range controlPaths(t, block, keys) {
		if _, dup := mustBlock[ctl.Key()]; !dup && unready(ctl) == "" {
			mustBlock[ctl.Key()] = false
			paths = append(paths, ctl)
		}
	}
	return paths, mustBlock
}

// pathName is how a watch report names a path.
func pathName(p Path) string {
	return fmt.Sprintf("%s -> %s %s/%d", p.FromPod, p.toPodOr(), p.Protocol, p.Port)
}

// toPodOr is the target pod, or the path's display target.
func (p Path) toPodOr() string {
	if p.ToPod != "" {
		return p.ToPod
	}
	return p.To
}

// watchFrom runs one agent watch in src over paths, handing each round to
// onRound as it arrives.
func watchFrom(ctx context.Context, c *kube.Client, src Pod, paths []Path, nonce string, timeout time.Duration, ws WatchSettings, onRound func(probes.Round)) error {
	ms := int(timeout.Milliseconds())
	w := probes.Watch{Batch: probes.Batch{TimeoutMs: ms, Concurrency: min(len(paths), TargetsInFlight)},
		IntervalMs: int(ws.Interval.Milliseconds()), DurationMs: int(ws.Duration.Milliseconds())}
	for _, p := range paths {
		t := p.Target(ms)
		if t.Protocol == probes.TCP {
			t.Nonce = nonce
		}
		w.Targets = append(w.Targets, t)
	}
	in, err := json.Marshal(w)
	if err != nil {
		return err
	}
	pr, pw := io.Pipe()
	var stderr strings.Builder
	done := make(chan error, 1)
	go func() {
		err := c.ExecStream(ctx, src.Namespace, src.Name, ContainerName, []string{probes.AgentPath, "watch"}, in, pw, &stderr)
		pw.CloseWithError(err)
		done <- err
	}()
	sc := bufio.NewScanner(pr)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		var r probes.Round
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			_ = pr.CloseWithError(err)
			<-done
			return fmt.Errorf("a round the agent wrote is not JSON: %w", err)
		}
		onRound(r)
	}
	err = <-done
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("%w %s", err, strings.TrimSpace(stderr.String()))
	}
	return nil
}
