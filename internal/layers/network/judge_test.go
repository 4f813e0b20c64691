package network

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/internal/report"
	"github.com/tenantcheck/tenantcheck/probes"
)

func testRepro(p Path) string {
	return "kubectl exec -n " + p.FromPod.Namespace + " " + p.FromPod.Name + " -c " + ContainerName + " -- " +
		strings.Join(agentArgs(p, time.Second, ""), " ")
}

func observed(p Path, outcomes ...probes.Outcome) *Observation {
	o := &Observation{Path: p}
	start := time.Date(2026, 12, 2, 22, 0, 0, 0, time.UTC)
	for i, out := range outcomes {
		o.add(i, start.Add(time.Duration(i)*time.Second), probes.Result{Target: p.Target(1000), Outcome: out, LatencyMs: 1, Detail: "detail of " + string(out)}, 10*time.Millisecond)
	}
	return o
}

// baselineObs is what a cluster that enforces the baseline shows: every
// planned path as its expectation says, blocked TCP refused in round 1 and
// blocked UDP silent in rounds 1 and 2, with every control connecting in
// both rounds.
func baselineObs(t testing.TB, top *Topology) map[string]*Observation {
	t.Helper()
	return fakeObs(plan(top))
}

// fakeObs answers every planned path as an enforcing cluster would: what
// should connect connects, denied TCP is refused, denied UDP times out.
func fakeObs(paths []Path, want map[string]model.Reach) map[string]*Observation {
	obs := make(map[string]*Observation, len(paths))
	for _, p := range paths {
		switch {
		case want[p.Key()] == model.ReachAllowed:
			obs[p.Key()] = observed(p, probes.Connected, probes.Connected)
		case p.Protocol == probes.TCP:
			obs[p.Key()] = observed(p, probes.Refused)
		default:
			obs[p.Key()] = observed(p, probes.Timeout, probes.Timeout)
		}
	}
	return obs
}

func resultsByID(rs []model.Result) map[string]model.Result {
	out := map[string]model.Result{}
	for _, r := range rs {
		out[r.CheckID] = r
	}
	return out
}

var crossTCP = func(p Path) bool {
	return p.From.Display == "tenant-a" && p.To == "tenant-b" && p.Via == model.ViaPodIP
}

func TestJudgeBaselineHolds(t *testing.T) {
	top := mimicTopology(t)
	results := judge(Checks, top, baselineObs(t, top), testRepro, "")
	require.Len(t, results, len(Checks))
	for i, r := range results {
		t.Run(r.CheckID, func(t *testing.T) {
			c := Checks[i]
			n := len(c.Paths(top))
			assert.Equal(t, c.ID, r.CheckID, "results keep the order of the checks")
			assert.Equal(t, model.VerdictHeld, r.Verdict, r.Reason)
			assert.Equal(t, "all "+strconv.Itoa(n)+" paths "+strings.ToLower(string(c.Expected.Reach)), r.Reason)
			assert.Equal(t, string(c.Expected.Reach)+" on all "+strconv.Itoa(n)+" paths", r.Expected)
			assert.Equal(t, strconv.Itoa(n)+" held, 0 broken, 0 error", r.Observed)
			require.Len(t, r.Evidence, n, "every path's attempts are kept, held or not")
			attempts := 0
			for _, ev := range r.Evidence {
				assert.Equal(t, model.VerdictHeld, ev.Verdict)
				attempts += ev.Attempts
			}
			assert.Equal(t, attempts, r.Attempts)
			assert.Equal(t, model.Millis(time.Duration(attempts)*10*time.Millisecond), r.Duration)
			assert.NoError(t, r.Validate())
		})
	}
}

func TestJudgeCrossTenantLeak(t *testing.T) {
	top := mimicTopology(t)
	obs := baselineObs(t, top)
	leak := findPath(t, top, "network/cross-tenant-tcp", crossTCP)
	obs[leak.Key()] = observed(leak, probes.Connected, probes.Connected, probes.Connected)

	// The tenant x tenant summary: a to b broke, b to a held; every path
	// between the two tenants counts, the mimics' ones included.
	pairs := tenantPairs(Checks, top, obs)
	require.Len(t, pairs, 2)
	assert.Equal(t, model.PairVerdict{From: "tenant-a", To: "tenant-b", Layer: model.LayerNetwork, Verdict: model.VerdictBroken, Tried: pairs[0].Tried}, pairs[0])
	assert.Equal(t, model.VerdictHeld, pairs[1].Verdict)
	assert.GreaterOrEqual(t, pairs[0].Tried, 6, "at least the six cross-tenant TCP and UDP paths")

	got := resultsByID(judge(Checks, top, obs, testRepro, ""))
	r := got["network/cross-tenant-tcp"]
	assert.Equal(t, model.VerdictBroken, r.Verdict)
	assert.Equal(t, "1 of 6 paths broken, e.g. tenant-a -> tenant-b TCP/8080 via pod IP: allowed, expected blocked: connected in round 1 of 3", r.Reason)
	assert.Equal(t, "5 held, 1 broken, 0 error", r.Observed)
	assert.Equal(t, 5+3, r.Attempts, "every attempt counts, retries included")
	require.Len(t, r.Evidence, 6, "the leak first, then the held paths")
	assert.Equal(t, model.VerdictBroken, r.Evidence[0].Verdict)
	ev := r.Evidence[0]
	assert.Equal(t, testRepro(leak), ev.Repro)
	assert.Contains(t, ev.Repro, "kubectl exec -n tenant-a-x1 tc-probe-client -c probe -- /tenantcheck-probe connect --host 10.244.0.21 --port 8080 --protocol tcp --mode connect --timeout 1s")
	assert.Equal(t, "tenant-a-x1/tc-probe-client", ev.From)
	assert.Equal(t, "tenant-b-x1/tc-probe-server", ev.To)
	assert.Equal(t, "TCP/8080 via pod IP (10.244.0.21:8080)", ev.Action)
	assert.Equal(t, model.OutcomeConnected, ev.Outcome)
	assert.Equal(t, 3, ev.Attempts)
	assert.Equal(t, model.Millis(30*time.Millisecond), ev.Duration)
	assert.True(t, strings.HasPrefix(ev.Raw, "attempts: round 1 at 22:00:00.000: connected 1ms, round 2 at 22:00:01.000: connected 1ms, round 3 at 22:00:02.000: connected 1ms; last: {"), ev.Raw)
	var last probes.Result
	require.NoError(t, json.Unmarshal([]byte(strings.SplitN(ev.Raw, "last: ", 2)[1]), &last), "the last attempt is kept as JSON")
	assert.Equal(t, probes.Connected, last.Outcome)
	assert.Equal(t, leak.Key(), last.Target.ID)

	for id, r := range got {
		if id != "network/cross-tenant-tcp" {
			assert.Equal(t, model.VerdictHeld, r.Verdict, "%s: %s", id, r.Reason)
		}
	}
}

func TestJudgeErrors(t *testing.T) {
	top := testTopology()
	leak := findPath(t, top, "network/cross-tenant-tcp", crossTCP)
	require.NotEmpty(t, leak.Control)
	tests := []struct {
		name    string
		mutate  func(obs map[string]*Observation)
		reason  string
		checkID string
	}{
		{
			name: "blocked while the control fails",
			mutate: func(obs map[string]*Observation) {
				obs[leak.Key()] = observed(leak, probes.Refused)
				obs[leak.Control] = observed(obs[leak.Control].Path, probes.Timeout)
			},
			reason: ReasonControlUnreachable, checkID: "network/cross-tenant-tcp",
		},
		{
			name: "blocked while the control was never probed",
			mutate: func(obs map[string]*Observation) {
				delete(obs, leak.Control)
			},
			reason: ReasonControlUnreachable, checkID: "network/cross-tenant-tcp",
		},
		{
			name: "blocked while the control's exec failed",
			mutate: func(obs map[string]*Observation) {
				obs[leak.Control] = observed(obs[leak.Control].Path, probes.Other)
			},
			reason: ReasonControlUnreachable, checkID: "network/cross-tenant-tcp",
		},
		{
			name: "exec failure",
			mutate: func(obs map[string]*Observation) {
				obs[leak.Key()] = observed(leak, probes.Other, probes.Other)
			},
			reason: "no attempt gave an answer (last: other: detail of other)", checkID: "network/cross-tenant-tcp",
		},
		{
			name: "name did not resolve",
			mutate: func(obs map[string]*Observation) {
				p := findPath(t, top, "network/cross-tenant-udp", func(p Path) bool {
					return p.From.Display == "tenant-b" && p.Via == model.ViaServiceName
				})
				obs[p.Key()] = observed(p, probes.DNSError)
			},
			reason: "no attempt gave an answer (last: dns-error", checkID: "network/cross-tenant-udp",
		},
		{
			name:   "a path never probed",
			mutate: func(obs map[string]*Observation) { delete(obs, leak.Key()) },
			reason: "a path was never probed", checkID: "network/cross-tenant-tcp",
		},
		{
			name: "dns to the stand-in blocked but the outsider cannot reach it either",
			mutate: func(obs map[string]*Observation) {
				p := findPath(t, top, "network/dns-other-resolver-denied", func(p Path) bool {
					return p.From.Display == "tenant-a" && p.Protocol == probes.UDP
				})
				obs[p.Control] = observed(obs[p.Control].Path, probes.Timeout)
			},
			reason: ReasonControlUnreachable, checkID: "network/dns-other-resolver-denied",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obs := baselineObs(t, top)
			tt.mutate(obs)
			r := resultsByID(judge(Checks, top, obs, testRepro, NotEnforced))[tt.checkID]
			assert.Equal(t, model.VerdictError, r.Verdict, "never Held or Broken: %s", r.Reason)
			assert.Regexp(t, `^[1-9]\d* of \d+ paths could not be judged, e\.g\. `, r.Reason)
			assert.Contains(t, r.Reason, tt.reason)
			assert.NotContains(t, r.Reason, NotEnforced, "the cause explains broken checks only")
			assert.Regexp(t, `^\d+ held, 0 broken, [1-9]\d* error$`, r.Observed)
		})
	}
}

func TestJudgeBrokenBeatsError(t *testing.T) {
	top := testTopology()
	obs := baselineObs(t, top)
	leak := findPath(t, top, "network/cross-tenant-tcp", crossTCP)
	other := findPath(t, top, "network/cross-tenant-tcp", func(p Path) bool {
		return p.From.Display == "tenant-b" && p.Via == model.ViaServiceIP
	})
	obs[leak.Key()] = observed(leak, probes.Connected)
	obs[other.Key()] = observed(other, probes.Other)

	r := resultsByID(judge(Checks, top, obs, testRepro, ""))["network/cross-tenant-tcp"]
	assert.Equal(t, model.VerdictBroken, r.Verdict, "a proven leak is reported even when another path errs")
	assert.Equal(t, "4 held, 1 broken, 1 error", r.Observed)
	require.Len(t, r.Evidence, 6, "every path carries evidence")
	assert.Len(t, report.Shown(r.Evidence), 2, "the text report shows both disagreeing paths")
}

func TestJudgeCause(t *testing.T) {
	top := testTopology()
	obs := baselineObs(t, top)
	// A leak on a Blocked check and an over-block on an Allowed one.
	leak := findPath(t, top, "network/cross-tenant-tcp", crossTCP)
	obs[leak.Key()] = observed(leak, probes.Connected)
	over := findPath(t, top, "network/shared-ingress-allowed", func(p Path) bool {
		return p.To == "tenant-a" && p.Protocol == probes.TCP && p.Via == model.ViaPodIP
	})
	obs[over.Key()] = observed(over, probes.Refused)

	const cause = NotEnforced + " (see network/policy-enforced)"
	got := resultsByID(judge(Checks, top, obs, testRepro, cause))
	tests := []struct {
		id        string
		verdict   model.Verdict
		withCause bool
	}{
		{"network/cross-tenant-tcp", model.VerdictBroken, true},
		{"network/shared-ingress-allowed", model.VerdictBroken, false},
		{"network/cross-tenant-udp", model.VerdictHeld, false},
		{"network/same-namespace", model.VerdictHeld, false},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			r := got[tt.id]
			assert.Equal(t, tt.verdict, r.Verdict, r.Reason)
			if tt.withCause {
				assert.True(t, strings.HasSuffix(r.Reason, "; "+cause), r.Reason)
			} else {
				assert.NotContains(t, r.Reason, NotEnforced)
			}
		})
	}
	assert.Contains(t, got["network/shared-ingress-allowed"].Reason, "blocked, expected allowed")
}

func TestJudgeEvidenceIsBounded(t *testing.T) {
	top := testTopology()
	obs := baselineObs(t, top)
	c := checkByID(t, "network/tenant-egress-denied")
	paths := c.Paths(top)
	require.Greater(t, len(paths), maxEvidence)
	for _, p := range paths {
		obs[p.Key()] = observed(p, probes.Connected)
	}
	r := judge([]Check{c}, top, obs, testRepro, "")[0]
	assert.Equal(t, model.VerdictBroken, r.Verdict)
	assert.True(t, strings.HasPrefix(r.Reason, strconv.Itoa(len(paths))+" of "+strconv.Itoa(len(paths))+" paths broken"), r.Reason)
	assert.Len(t, r.Evidence, maxEvidence)
	assert.Equal(t, len(paths), r.Attempts)
}

func TestJudgeSkipsCheckWithoutPaths(t *testing.T) {
	top := testTopology()
	var peers []Peer
	for _, p := range top.Peers {
		if p.Role != RoleShared {
			peers = append(peers, p)
		}
	}
	top.Peers = peers
	got := resultsByID(judge(Checks, top, baselineObs(t, top), testRepro, ""))
	r := got["network/shared-ingress-allowed"]
	assert.Equal(t, model.VerdictSkipped, r.Verdict)
	assert.NoError(t, r.Validate(), "a skip carries its reason")
	assert.Equal(t, model.VerdictHeld, got["network/tenant-egress-denied"].Verdict)
}

func TestDescribe(t *testing.T) {
	tests := []struct {
		path Path
		want string
	}{
		{Path{Protocol: probes.TCP, Port: 8080, Via: model.ViaPodIP}, "TCP/8080 via pod IP"},
		{Path{Protocol: probes.UDP, Port: 8080, Via: model.ViaServiceName}, "UDP/8080 via service name"},
		{Path{Protocol: probes.UDP, Port: 53, Mode: probes.DNS, Via: model.ViaServiceIP}, "DNS UDP/53"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, describe(tt.path))
	}
}

func TestAgentArgs(t *testing.T) {
	p := Path{Host: "10.96.0.10", Port: 53, Protocol: probes.UDP, Mode: probes.DNS}
	assert.Equal(t, []string{probes.AgentPath, "connect", "--host", "10.96.0.10", "--port", "53", "--protocol", "udp", "--mode", "dns", "--timeout", "1.5s"},
		agentArgs(p, 1500*time.Millisecond, ""))
	p.Mode = ""
	assert.Contains(t, agentArgs(p, time.Second, ""), "connect", "an empty mode is connect")
}

func TestMatrices(t *testing.T) {
	top := testTopology()
	obs := baselineObs(t, top)
	leak := findPath(t, top, "network/cross-tenant-tcp", crossTCP)
	obs[leak.Key()] = observed(leak, probes.Connected)
	udpErr := findPath(t, top, "network/tenant-egress-denied", func(p Path) bool {
		return p.From.Display == "tenant-b" && p.To == "outsider" && p.Protocol == probes.UDP && p.Via == model.ViaServiceName
	})
	obs[udpErr.Key()] = observed(udpErr, probes.Other)

	ms := matrices(Checks, top, obs)
	require.Len(t, ms, 6, "one matrix per protocol and way of addressing")
	want := map[string][]model.Cell{
		"TCP/8080 via pod IP":       {{From: "tenant-a", To: "tenant-b", Expected: model.ReachBlocked, Observed: model.ReachAllowed}},
		"UDP/8080 via service name": {{From: "tenant-b", To: "outsider", Expected: model.ReachBlocked, Observed: model.ReachError}},
	}
	for _, m := range ms {
		t.Run(m.Name, func(t *testing.T) {
			assert.NoError(t, m.Validate())
			assert.Equal(t, []string{"tenant-a", "tenant-b", "ingress", "outsider"}, m.Peers, "the canary is no matrix peer")
			assert.Equal(t, want[m.Name], m.Mismatches(), "exactly the mismatching cells\n%s", m.String())

			cell := func(from, to string) model.Cell {
				c, err := m.Get(from, to)
				require.NoError(t, err)
				return c
			}
			assert.Equal(t, model.ReachAllowed, cell("tenant-a", "tenant-a").Expected)
			assert.Equal(t, model.ReachBlocked, cell("tenant-b", "tenant-a").Expected)
			assert.Equal(t, model.ReachAllowed, cell("ingress", "tenant-b").Expected)
			assert.Equal(t, model.ReachBlocked, cell("outsider", "tenant-a").Expected)
			assert.Equal(t, model.ReachBlocked, cell("tenant-a", "ingress").Expected)
			// No check covers these: they stay empty, not "Allowed".
			empty := cell("ingress", "outsider")
			assert.Equal(t, model.Reach(""), empty.Expected)
			assert.Equal(t, model.Reach(""), empty.Observed)
		})
	}
}

func TestMatricesWithoutObservations(t *testing.T) {
	top := testTopology()
	for _, m := range matrices(Checks, top, map[string]*Observation{}) {
		assert.Empty(t, m.Mismatches(), "nothing observed, nothing mismatched")
		c, err := m.Get("tenant-a", "tenant-b")
		require.NoError(t, err)
		assert.Equal(t, model.ReachBlocked, c.Expected)
		assert.Equal(t, model.Reach(""), c.Observed)
	}
}

// A tenant whose probes could not start (at its quota) makes its own paths
// Errors that say why, and no other path: the rest are judged as usual.
func TestUnreadyTenantErrsOnlyItsPaths(t *testing.T) {
	top := testTopology()
	obs := baselineObs(t, top)
	top.Peers[1].Unready = `create pod tenant-b-x1/tc-probe-server: pods "tc-probe-server" is forbidden: exceeded quota`
	got := resultsByID(judge(Checks, top, obs, testRepro, ""))
	r := got["network/cross-tenant-tcp"]
	assert.Equal(t, model.VerdictError, r.Verdict)
	assert.Contains(t, r.Reason, "6 of 6 paths could not be judged")
	assert.Contains(t, r.Reason, "no probe runs in tenant-b-x1: create pod tenant-b-x1/tc-probe-server")
	assert.Contains(t, r.Reason, "exceeded quota")
	all := checkByID(t, "network/same-namespace").Paths(top)
	tenantB := 0
	for _, p := range all {
		if p.From.Display == "tenant-b" {
			tenantB++
		}
	}
	same := got["network/same-namespace"]
	assert.Equal(t, model.VerdictError, same.Verdict, "tenant-b's own paths are Errors")
	assert.Equal(t, fmt.Sprintf("%d held, 0 broken, %d error", len(all)-tenantB, tenantB), same.Observed, "the other namespaces' paths are judged")
	assert.Equal(t, "6 held, 0 broken, 6 error", got["network/other-namespace-ingress-denied"].Observed,
		"outsider -> tenant-a is judged, outsider -> tenant-b is an Error")
}
