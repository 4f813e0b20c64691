package watch

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantcheck/tenantcheck/probes"
)

var t0 = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

// series makes one path's samples every 200 ms from outcomes: c connected,
// t timeout, r refused.
func series(path, node string, mustBlock bool, outcomes string) Series {
	s := Series{Path: path, Node: node, MustBlock: mustBlock}
	for i, c := range outcomes {
		o := map[rune]probes.Outcome{'c': probes.Connected, 't': probes.Timeout, 'r': probes.Refused}[c]
		s.Samples = append(s.Samples, Sample{At: t0.Add(time.Duration(i) * 200 * time.Millisecond), Outcome: o})
	}
	return s
}

func TestAFailOpenWindowOnOneNode(t *testing.T) {
	tl := Analyze([]Series{
		series("a->b tcp", "node-2", true, "ttttccccccttttt"),
		series("a->b udp", "node-2", true, "tttttcccccctttt"),
		series("c->d tcp", "node-1", true, "ttttttttttttttt"),
		series("b->b tcp", "node-2", false, "ccccccccccccccc"),
	}, 200*time.Millisecond)
	require.Len(t, tl.FailOpen, 1, "the two paths' runs overlap: one window")
	w := tl.FailOpen[0]
	assert.Equal(t, t0.Add(800*time.Millisecond), w.Start)
	assert.Equal(t, t0.Add(2000*time.Millisecond), w.End)
	assert.Equal(t, 1200*time.Millisecond, w.Duration())
	assert.Equal(t, 12, w.Samples)
	assert.Equal(t, []string{"a->b tcp", "a->b udp"}, w.Paths)
	assert.Equal(t, []string{"node-2"}, w.Nodes, "node 2's paths only")
	assert.Empty(t, tl.Outages)
	assert.Equal(t, 15, tl.Rounds)
	assert.InDelta(t, 5.0, tl.RoundsPerSecond, 1e-9)
}

func TestSeparateWindowsAndAnOutage(t *testing.T) {
	tl := Analyze([]Series{
		series("a->b", "n1", true, "cttttttttc"),
		series("b->b", "n1", false, "cccrrtcccc"),
	}, 200*time.Millisecond)
	require.Len(t, tl.FailOpen, 2, "far apart: two windows")
	assert.Equal(t, time.Duration(0), tl.FailOpen[0].Duration(), "seen in one round")
	require.Len(t, tl.Outages, 1)
	assert.Equal(t, 3, tl.Outages[0].Samples)
	assert.Equal(t, t0.Add(600*time.Millisecond), tl.Outages[0].Start)
}

// An unenforced cluster: every must-block path connects the whole time,
// which is one window as long as the watch.
func TestUnenforcedIsOpenThroughout(t *testing.T) {
	tl := Analyze([]Series{
		series("a->b", "n1", true, "cccccccccc"),
		series("b->a", "n1", true, "cccccccccc"),
	}, 200*time.Millisecond)
	require.Len(t, tl.FailOpen, 1)
	assert.Equal(t, 1800*time.Millisecond, tl.FailOpen[0].Duration())
	assert.Equal(t, 20, tl.FailOpen[0].Samples)
}

func TestNothingSeen(t *testing.T) {
	tl := Analyze(nil, time.Second)
	assert.Empty(t, tl.FailOpen)
	assert.Zero(t, tl.RoundsPerSecond)
}
