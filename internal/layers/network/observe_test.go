package network

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/probes"
)

// execCall is one exec the prober asked for.
type execCall struct {
	Namespace, Pod, Container string
	Cmd                       []string
	Batch                     probes.Batch
}

// scriptedExec answers each batch from a script: the n-th time a target ID
// is probed (0-based) it gets script[id][n], or the last entry once the
// script runs out; unknown targets are connected. A pod in failPods fails
// the exec itself.
type scriptedExec struct {
	script   map[string][]probes.Outcome
	failPods map[string]error
	stdout   func(pod string, ans probes.Answer) string // nil: the JSON answer
	omit     map[string]bool                            // target IDs left out of the answer

	mu    sync.Mutex
	calls []execCall
	seen  map[string]int
}

func (f *scriptedExec) Exec(ctx context.Context, ns, pod, container string, cmd []string, stdin []byte) (string, string, error) {
	if _, ok := ctx.Deadline(); !ok {
		return "", "", errors.New("exec without an outer deadline")
	}
	var b probes.Batch
	dec := json.NewDecoder(strings.NewReader(string(stdin)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return "", "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, execCall{Namespace: ns, Pod: pod, Container: container, Cmd: cmd, Batch: b})
	if err := f.failPods[ns+"/"+pod]; err != nil {
		return "", "error: unable to upgrade connection: container not found (\"probe\")\n", err
	}
	if f.seen == nil {
		f.seen = map[string]int{}
	}
	var ans probes.Answer
	for _, tg := range b.Targets {
		n := f.seen[tg.ID]
		f.seen[tg.ID]++
		if f.omit[tg.ID] {
			continue
		}
		out := probes.Connected
		if s := f.script[tg.ID]; len(s) > 0 {
			out = s[min(n, len(s)-1)]
		}
		ans.Results = append(ans.Results, probes.Result{Target: tg, Outcome: out, LatencyMs: 1})
	}
	if f.stdout != nil {
		return f.stdout(ns+"/"+pod, ans), "", nil
	}
	out, err := json.Marshal(ans)
	return string(out), "", err
}

func (f *scriptedExec) ReproExec(ns, pod, container string, cmd []string) string {
	return "kubectl exec -n " + ns + " " + pod + " -c " + container + " -- " + strings.Join(cmd, " ")
}

func (f *scriptedExec) probed(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		for _, tg := range c.Batch.Targets {
			if tg.ID == id {
				n++
			}
		}
	}
	return n
}

func outcomes(o *Observation) []probes.Outcome {
	var out []probes.Outcome
	for _, r := range o.Results {
		out = append(out, r.Outcome)
	}
	return out
}

// controlOf is the control path of p in top (the target from its own
// namespace).
func controlOf(top *Topology, p Path) Path {
	for _, peer := range top.Peers {
		if peer.Server.String() == p.ToPod {
			return serverPath(top, &peer, peer, p.Protocol, p.Via)
		}
	}
	panic("no control for " + p.Key())
}

// TestObserveRounds: a path is re-probed, with its control in the same
// round, until what its attempts prove is settled (decide), at most
// 1+retries rounds; every attempt is kept with its round.
func TestObserveRounds(t *testing.T) {
	top := testTopology()
	a, b, sh := top.Peers[0], top.Peers[1], top.Peers[2]
	same := serverPath(top, &a, a, probes.TCP, model.ViaPodIP)         // a control: want Allowed
	leak := serverPath(top, &a, b, probes.TCP, model.ViaPodIP)         // want Blocked
	dropped := serverPath(top, &b, a, probes.UDP, model.ViaPodIP)      // want Blocked
	flaky := serverPath(top, &b, a, probes.TCP, model.ViaServiceIP)    // want Blocked
	lateCtl := serverPath(top, &a, b, probes.UDP, model.ViaServiceIP)  // want Blocked
	refusedOnce := serverPath(top, &sh, a, probes.TCP, model.ViaPodIP) // want Blocked
	down := serverPath(top, &b, b, probes.TCP, model.ViaServiceName)   // a control that never answers
	free := serverPath(top, &a, b, probes.UDP, model.ViaServiceName)   // no expectation
	paths := []Path{same, leak, dropped, flaky, lateCtl, refusedOnce, down, free, same}
	want := map[string]model.Reach{same.Key(): model.ReachAllowed, down.Key(): model.ReachAllowed}
	for _, p := range []Path{leak, dropped, flaky, lateCtl, refusedOnce} {
		want[p.Key()] = model.ReachBlocked
		for _, c := range []Path{controlOf(top, p), sourceControl(top, p.From, p.Protocol)} {
			paths = append(paths, c)
			want[c.Key()] = model.ReachAllowed
		}
	}
	const retries = 3
	ex := &scriptedExec{script: map[string][]probes.Outcome{
		leak.Key():                    {probes.Connected, probes.Timeout},
		dropped.Key():                 {probes.Timeout},
		flaky.Key():                   {probes.Timeout, probes.Connected, probes.Refused},
		lateCtl.Key():                 {probes.Timeout},
		controlOf(top, lateCtl).Key(): {probes.Timeout, probes.Connected},
		refusedOnce.Key():             {probes.Refused},
		down.Key():                    {probes.Timeout, probes.Refused},
		free.Key():                    {probes.Refused},
	}}
	pr := &prober{exec: ex, timeout: 700 * time.Millisecond}
	obs := pr.observe(context.Background(), paths, want, retries, time.Millisecond)

	tests := []struct {
		name  string
		path  Path
		want  []probes.Outcome
		reach model.Reach
	}{
		{"a control that connects is probed once", same, []probes.Outcome{probes.Connected}, model.ReachAllowed},
		{"a connection once is a leak, whatever follows: not re-probed", leak, []probes.Outcome{probes.Connected}, model.ReachAllowed},
		{"a dropped path needs two timeouts", dropped, []probes.Outcome{probes.Timeout, probes.Timeout}, model.ReachBlocked},
		{"a timeout then a connection is a leak", flaky, []probes.Outcome{probes.Timeout, probes.Connected}, model.ReachAllowed},
		{"timeouts count only in rounds the control connected", lateCtl, []probes.Outcome{probes.Timeout, probes.Timeout, probes.Timeout}, model.ReachBlocked},
		{"one refusal with the control up is a block", refusedOnce, []probes.Outcome{probes.Refused}, model.ReachBlocked},
		{"a control that never answers is tried every round, then Error", down,
			[]probes.Outcome{probes.Timeout, probes.Refused, probes.Refused, probes.Refused}, model.ReachError},
		{"no expectation, no retry", free, []probes.Outcome{probes.Refused}, model.ReachBlocked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := obs[tt.path.Key()]
			require.NotNil(t, o)
			assert.Equal(t, tt.want, outcomes(o))
			assert.Equal(t, len(tt.want), ex.probed(tt.path.Key()), "probes sent for this path")
			assert.Equal(t, tt.reach, o.Reach(), o.Why())
			require.Len(t, o.Rounds, len(o.Results))
			require.Len(t, o.At, len(o.Results))
			for i := range o.Rounds {
				if i > 0 {
					assert.Greater(t, o.Rounds[i], o.Rounds[i-1], "one attempt per round")
				}
			}
			assert.Positive(t, o.Duration)
		})
	}
	ctl := obs[controlOf(top, lateCtl).Key()]
	assert.Equal(t, []probes.Outcome{probes.Timeout, probes.Connected, probes.Connected}, outcomes(ctl),
		"the control is re-probed in the same rounds as its path")
	assert.Equal(t, obs[lateCtl.Key()].Rounds, ctl.Rounds)

	ex.mu.Lock()
	defer ex.mu.Unlock()
	for _, c := range ex.calls {
		assert.Equal(t, ContainerName, c.Container)
		assert.Equal(t, []string{probes.AgentPath, "batch"}, c.Cmd)
		assert.Equal(t, 700, c.Batch.TimeoutMs)
		assert.Equal(t, min(len(c.Batch.Targets), TargetsInFlight), c.Batch.Concurrency, "a pod's targets run at once, up to TargetsInFlight")
		ids := map[string]bool{}
		for _, tg := range c.Batch.Targets {
			assert.False(t, ids[tg.ID], "target %s sent twice in one batch", tg.ID)
			ids[tg.ID] = true
			assert.Equal(t, 700, tg.TimeoutMs)
			assert.True(t, strings.HasPrefix(tg.ID, c.Namespace+"/"+c.Pod+">"), "%s runs in its source pod %s/%s", tg.ID, c.Namespace, c.Pod)
		}
	}
}

func TestObserveExecFailure(t *testing.T) {
	top := testTopology()
	a, b := top.Peers[0], top.Peers[1]
	fromA := []Path{
		serverPath(top, &a, b, probes.TCP, model.ViaPodIP),
		serverPath(top, &a, b, probes.UDP, model.ViaServiceName),
		serverPath(top, &a, a, probes.TCP, model.ViaPodIP),
	}
	fromB := serverPath(top, &b, a, probes.TCP, model.ViaPodIP)
	want := map[string]model.Reach{}
	for _, p := range fromA {
		want[p.Key()] = model.ReachBlocked
	}
	want[fromA[2].Key()] = model.ReachAllowed
	want[fromB.Key()] = model.ReachBlocked

	ex := &scriptedExec{
		script:   map[string][]probes.Outcome{fromB.Key(): {probes.Refused}},
		failPods: map[string]error{a.Client.String(): errors.New("command terminated with exit code 137")},
	}
	pr := &prober{exec: ex, timeout: time.Second}
	ctlB := controlOf(top, fromB) // runs in tenant-a's client pod: its exec fails too
	srcB := sourceControl(top, &b, probes.TCP)
	want[ctlB.Key()], want[srcB.Key()] = model.ReachAllowed, model.ReachAllowed
	obs := pr.observe(context.Background(), append(fromA, fromB, ctlB, srcB), want, 2, time.Millisecond)

	for _, p := range fromA {
		o := obs[p.Key()]
		require.NotNil(t, o, p.Key())
		require.Len(t, o.Results, 3, "an exec failure disagrees with any expectation, so it is retried")
		for _, r := range o.Results {
			assert.Equal(t, probes.Other, r.Outcome, "an exec failure is never refused or timeout")
			assert.Contains(t, r.Detail, "probe agent in tenant-a-x1/tc-probe-client could not run")
			assert.Contains(t, r.Detail, "exit code 137")
			assert.Contains(t, r.Detail, "container not found", "the exec's stderr is kept")
			assert.Equal(t, p.Key(), r.Target.ID)
		}
		assert.Equal(t, model.ReachError, o.Reach())
	}
	assert.Equal(t, []probes.Outcome{probes.Refused, probes.Refused, probes.Refused}, outcomes(obs[fromB.Key()]),
		"another pod's batch still runs; its path is re-probed since its control (from the failing pod) never answered")
	assert.Equal(t, model.ReachError, obs[fromB.Key()].Reach(), "a refusal without a working control is no block")
}

func TestBatchBadAnswers(t *testing.T) {
	top := testTopology()
	a, b := top.Peers[0], top.Peers[1]
	p1 := serverPath(top, &a, b, probes.TCP, model.ViaPodIP)
	p2 := serverPath(top, &a, b, probes.UDP, model.ViaPodIP)
	tests := []struct {
		name   string
		ex     *scriptedExec
		want   map[string]probes.Outcome
		detail string
	}{
		{
			name:   "stdout is not JSON",
			ex:     &scriptedExec{stdout: func(string, probes.Answer) string { return "exec format error" }},
			want:   map[string]probes.Outcome{p1.Key(): probes.Other, p2.Key(): probes.Other},
			detail: "could not run",
		},
		{
			name:   "a target left out of the answer",
			ex:     &scriptedExec{script: map[string][]probes.Outcome{p1.Key(): {probes.Timeout}}, omit: map[string]bool{p2.Key(): true}},
			want:   map[string]probes.Outcome{p1.Key(): probes.Timeout, p2.Key(): probes.Other},
			detail: "the agent returned no result for this target",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pr := &prober{exec: tt.ex, timeout: time.Second}
			got := pr.batch(context.Background(), a.Client, []Path{p1, p2, p1})
			require.Len(t, got, 2)
			for k, w := range tt.want {
				assert.Equal(t, w, got[k].Outcome, k)
				if w == probes.Other {
					assert.Contains(t, got[k].Detail, tt.detail)
				}
			}
			require.Len(t, tt.ex.calls, 1)
			assert.Len(t, tt.ex.calls[0].Batch.Targets, 2, "a repeated path is sent once")
		})
	}
}

func TestObserveStopsRetryingWhenCancelled(t *testing.T) {
	top := testTopology()
	a, b := top.Peers[0], top.Peers[1]
	leak := serverPath(top, &a, b, probes.TCP, model.ViaPodIP)
	ex := &scriptedExec{}
	pr := &prober{exec: ex, timeout: time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	obs := pr.observe(ctx, []Path{leak}, map[string]model.Reach{leak.Key(): model.ReachBlocked}, 5, time.Hour)
	require.Contains(t, obs, leak.Key())
	assert.Len(t, obs[leak.Key()].Results, 1, "the first round runs, no retry after cancel")
}
