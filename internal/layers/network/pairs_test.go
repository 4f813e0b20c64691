package network

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantcheck/tenantcheck/probes"
)

func tenantNames(n int) []string {
	var out []string
	for i := 1; i <= n; i++ {
		out = append(out, fmt.Sprintf("t%02d", i))
	}
	return out
}

func TestParsePairs(t *testing.T) {
	for _, s := range []string{"", "auto", "all", "ring", "sample=3", "sample=3:42"} {
		_, err := ParsePairs(s)
		assert.NoError(t, err, s)
	}
	for _, s := range []string{"every", "sample=", "sample=0", "sample=x", "sample=2:-1", "ring=2"} {
		_, err := ParsePairs(s)
		assert.Error(t, err, s)
	}
	p, err := ParsePairs("sample=3:42")
	require.NoError(t, err)
	assert.Equal(t, "sample=3:42", p.String(p.Strategy), "the plan repeats as a --pairs value")
}

func TestPairCoverage(t *testing.T) {
	auto, _ := ParsePairs("")
	small := auto.Cover(tenantNames(AllPairsUpTo))
	assert.True(t, small.All(), "every pair up to %d tenants", AllPairsUpTo)
	assert.Empty(t, small.Note())

	ring := auto.Cover(tenantNames(20))
	assert.Equal(t, "ring", ring.Plan, "ring above %d tenants", AllPairsUpTo)
	assert.Equal(t, 40, ring.Probed)
	assert.Equal(t, 380, ring.Total)
	assert.True(t, ring.Live[[2]string{"t17", "t18"}] && ring.Live[[2]string{"t18", "t17"}], "neighbours, both ways")
	assert.True(t, ring.Live[[2]string{"t20", "t01"}], "the ring closes")
	assert.False(t, ring.Live[[2]string{"t01", "t17"}])
	assert.Contains(t, ring.Note(), "40 of 380 ordered tenant pairs probed live")

	s1, _ := ParsePairs("sample=3:7")
	s2, _ := ParsePairs("sample=3:7")
	a, b := s1.Cover(tenantNames(20)), s2.Cover(tenantNames(20))
	assert.Equal(t, a.Live, b.Live, "the same seed draws the same pairs")
	for _, name := range tenantNames(20) {
		n := 0
		for other := range a.Live {
			if other[0] == name {
				n++
			}
		}
		assert.GreaterOrEqual(t, n, 3, "%s probes at least K others", name)
	}
	all, _ := ParsePairs("sample=19:1")
	assert.True(t, all.Cover(tenantNames(20)).All(), "K of n-1 or more is every pair")
}

// Under ring, the cross-tenant checks plan paths only between neighbours;
// every other check (own namespace, outsider, shared) is planned as before.
func TestRingPlansOnlyLivePairs(t *testing.T) {
	top := testTopology()
	third := peerAt("tenant-c", RoleTenant, "tenant-c", 6)
	fourth := peerAt("tenant-d", RoleTenant, "tenant-d", 7)
	top.Peers = append(top.Peers, third, fourth)
	full := len(checkByID(t, "network/cross-tenant-tcp").Paths(top))
	ring, _ := ParsePairs("ring")
	top.Pairs = ring.Cover([]string{"tenant-a", "tenant-b", "tenant-c", "tenant-d"})
	got := checkByID(t, "network/cross-tenant-tcp").Paths(top)
	assert.Equal(t, full*8/12, len(got), "8 of the 12 ordered pairs of four tenants")
	for _, p := range got {
		to := ""
		for _, peer := range top.Peers {
			if peer.Namespace == p.ToNamespace {
				to = peer.Tenant
			}
		}
		assert.True(t, top.Pairs.Live[[2]string{p.From.Tenant, to}], "%s -> %s", p.From.Tenant, to)
		assert.Equal(t, probes.TCP, p.Protocol)
	}
	assert.NotEmpty(t, checkByID(t, "network/other-namespace-ingress-denied").Paths(top))
}
