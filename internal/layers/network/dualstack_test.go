package network

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/probes"
)

// dualStack gives every pod and Service of the test topology an IPv6
// address besides its IPv4 one.
func dualStack(top *Topology) *Topology {
	for i := range top.Peers {
		p := &top.Peers[i]
		p.Server.OtherIPs = []string{fmt.Sprintf("fd00::%d1", i)}
		if p.Client.Name != "" {
			p.Client.OtherIPs = []string{fmt.Sprintf("fd00::%d2", i)}
		}
		p.OtherServiceIPs = []string{fmt.Sprintf("fd01::%d", i)}
	}
	return top
}

// On a dual-stack cluster every family is probed: a path to the target's
// IPv6 pod address and ClusterIP, each with its own IPv6 control; the
// matrices keep showing the primary family.
func TestDualStackProbesEveryFamily(t *testing.T) {
	single := testTopology()
	dual := dualStack(testTopology())
	c := checkByID(t, "network/cross-tenant-tcp")
	ps, pd := c.Paths(single), c.Paths(dual)
	assert.Len(t, pd, len(ps)*5/3, "pod IP and ClusterIP of the other family: 2 more paths for every 3 ways of addressing")
	var v6 []Path
	for _, p := range pd {
		if p.Family != "" {
			v6 = append(v6, p)
		}
	}
	require.Len(t, v6, len(ps)*2/3)
	for _, p := range v6 {
		assert.Equal(t, "IPv6", p.Family)
		assert.Contains(t, p.Host, "fd0")
		assert.Contains(t, p.Control, p.Host, "the control aims at the same IPv6 address")
		assert.Contains(t, describe(p), "(IPv6)")
	}

	// A leak through IPv6 only (an egress rule ::/0) breaks the check,
	// while the primary family's matrix still shows the IPv4 paths.
	paths, want := plan(dual)
	obs := map[string]*Observation{}
	for _, p := range paths {
		switch {
		case want[p.Key()] == model.ReachAllowed || (p.Family == "IPv6" && p.Via == model.ViaPodIP && p.From.Display == "tenant-a" && p.To == "tenant-b"):
			obs[p.Key()] = observed(p, probes.Connected, probes.Connected)
		case p.Protocol == probes.TCP:
			obs[p.Key()] = observed(p, probes.Refused)
		default:
			obs[p.Key()] = observed(p, probes.Timeout, probes.Timeout)
		}
	}
	r := resultsByID(judge(Checks, dual, obs, testRepro, ""))["network/cross-tenant-tcp"]
	assert.Equal(t, model.VerdictBroken, r.Verdict, r.Reason)
	assert.Contains(t, r.Reason, "(IPv6)")
	for _, m := range matrices(Checks, dual, obs) {
		assert.Empty(t, m.Mismatches(), "matrix %s shows the primary family", m.Name)
	}
}
