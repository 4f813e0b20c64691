// Package watch reads the timelines a watch records (issue 15): while the
// cluster or its network enforcer restarts, did a path that must stay
// blocked connect, when, for how long and from which nodes (a fail-open
// window), and when could the controls not connect at all (an outage: the
// cluster itself was down, and silence proved nothing).
package watch

import (
	"slices"
	"sort"
	"time"

	"github.com/tenantcheck/tenantcheck/probes"
)

// Sample is one probe of one path in one round.
type Sample struct {
	At      time.Time      `json:"at"`
	Outcome probes.Outcome `json:"outcome"`
}

// Series is one path's samples, in time order.
type Series struct {
	Path string `json:"path"`
	Node string `json:"node,omitempty"` // the source pod's node
	// MustBlock: a path that must never connect; otherwise a control,
	// which must always connect.
	MustBlock bool     `json:"mustBlock"`
	Samples   []Sample `json:"samples"`
}

// Window is a stretch of time in which paths showed what they must not:
// must-block paths connected (fail-open), or controls failed (outage).
type Window struct {
	Start time.Time `json:"start"` // the first sample that showed it
	End   time.Time `json:"end"`   // the last one
	// Samples counts the samples that showed it, over every path.
	Samples int      `json:"samples"`
	Paths   []string `json:"paths"`
	Nodes   []string `json:"nodes,omitempty"`
}

// Duration is from the first to the last sample that showed it: a window
// seen in one round only lasts 0, however long it really was open (at most
// the interval on either side).
func (w Window) Duration() time.Duration { return w.End.Sub(w.Start) }

// Timeline is what a watch saw.
type Timeline struct {
	FailOpen []Window `json:"failOpen"`
	Outages  []Window `json:"outages"`
	// Rounds is the most samples any path has; RoundsPerSecond the rate
	// achieved by the slowest path, first sample to last.
	Rounds          int     `json:"rounds"`
	RoundsPerSecond float64 `json:"roundsPerSecond"`
}

// Analyze finds the windows: per path, the runs of consecutive samples
// that connected (must-block) or did not (control); runs of any paths that
// overlap or are less than gap apart are one window.
func Analyze(series []Series, gap time.Duration) Timeline {
	var open, down []run
	tl := Timeline{RoundsPerSecond: -1}
	for _, s := range series {
		tl.Rounds = max(tl.Rounds, len(s.Samples))
		if n := len(s.Samples); n > 1 {
			span := s.Samples[n-1].At.Sub(s.Samples[0].At).Seconds()
			if rate := float64(n-1) / span; span > 0 && (tl.RoundsPerSecond < 0 || rate < tl.RoundsPerSecond) {
				tl.RoundsPerSecond = rate
			}
		}
		bad := func(o probes.Outcome) bool { return o != probes.Connected }
		if s.MustBlock {
			bad = func(o probes.Outcome) bool { return o == probes.Connected }
		}
		runs := runsOf(s, bad)
		if s.MustBlock {
			open = append(open, runs...)
		} else {
			down = append(down, runs...)
		}
	}
	if tl.RoundsPerSecond < 0 {
		tl.RoundsPerSecond = 0
	}
	tl.FailOpen, tl.Outages = merge(open, gap), merge(down, gap)
	return tl
}

type run struct {
	start, end time.Time
	n          int
	path, node string
}

func runsOf(s Series, bad func(probes.Outcome) bool) []run {
	var out []run
	var cur *run
	for _, smp := range s.Samples {
		if !bad(smp.Outcome) {
			cur = nil
			continue
		}
		if cur == nil {
			out = append(out, run{start: smp.At, path: s.Path, node: s.Node})
			cur = &out[len(out)-1]
		}
		cur.end = smp.At
		cur.n++
	}
	return out
}

func merge(runs []run, gap time.Duration) []Window {
	sort.Slice(runs, func(i, j int) bool { return runs[i].start.Before(runs[j].start) })
	var out []Window
	for _, r := range runs {
		if n := len(out); n > 0 && !r.start.After(out[n-1].End.Add(gap)) {
			w := &out[n-1]
			if r.end.After(w.End) {
				w.End = r.end
			}
			w.Samples += r.n
			w.Paths = addSorted(w.Paths, r.path)
			w.Nodes = addSorted(w.Nodes, r.node)
			continue
		}
		out = append(out, Window{Start: r.start, End: r.end, Samples: r.n, Paths: []string{r.path}, Nodes: addSorted(nil, r.node)})
	}
	return out
}

func addSorted(list []string, s string) []string {
	if s == "" {
		return list
	}
	i, found := slices.BinarySearch(list, s)
	if found {
		return list
	}
	return slices.Insert(list, i, s)
}
