package network

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/probes"
)

// TestDecide: each judging rule on recorded sequences of attempts. A path
// and its control are probed in the same rounds: attempt i is round i.
func TestDecide(t *testing.T) {
	top := testTopology()
	a, b := top.Peers[0], top.Peers[1]
	path := serverPath(top, &a, b, probes.TCP, model.ViaPodIP)
	control := controlOf(top, path)
	source := sourceControl(top, &a, probes.TCP)
	require.Equal(t, source.Key(), path.SourceControl)
	const (
		C = probes.Connected
		R = probes.Refused
		T = probes.Timeout
		U = probes.Unreachable
		I = probes.Intercepted
		O = probes.Other
	)
	tests := []struct {
		name     string
		want     model.Reach
		attempts []probes.Outcome
		ctl      []probes.Outcome // nil: no control observation at all
		reach    model.Reach
		settled  bool
		why      string
	}{
		{"a leak once is a leak: [connected, timeout]", model.ReachBlocked, []probes.Outcome{C, T}, []probes.Outcome{C, C},
			model.ReachAllowed, true, "connected in round 1 of 2"},
		{"a leak late is a leak: [timeout, connected]", model.ReachBlocked, []probes.Outcome{T, C}, []probes.Outcome{C, C},
			model.ReachAllowed, true, "connected in round 2 of 2"},
		{"one refusal with the control up", model.ReachBlocked, []probes.Outcome{R}, []probes.Outcome{C},
			model.ReachBlocked, true, "1 refused"},
		{"one timeout is not yet a block", model.ReachBlocked, []probes.Outcome{T}, []probes.Outcome{C},
			model.ReachError, false, ReasonOneTimeout},
		{"two timeouts with the control up", model.ReachBlocked, []probes.Outcome{T, T}, []probes.Outcome{C, C},
			model.ReachBlocked, true, "2 timed out"},
		{"the control came up late: [timeout, connected] control", model.ReachBlocked, []probes.Outcome{T, T}, []probes.Outcome{T, C},
			model.ReachError, false, ReasonOneTimeout},
		{"the control came up late, third round proves it", model.ReachBlocked, []probes.Outcome{T, T, T}, []probes.Outcome{T, C, C},
			model.ReachBlocked, true, "2 timed out"},
		{"the control never answered", model.ReachBlocked, []probes.Outcome{R, R, R}, []probes.Outcome{T, T, T},
			model.ReachError, false, ReasonControlUnreachable},
		{"no control observation", model.ReachBlocked, []probes.Outcome{R}, nil,
			model.ReachError, false, ReasonControlUnreachable},
		{"EHOSTUNREACH once is like one timeout", model.ReachBlocked, []probes.Outcome{U}, []probes.Outcome{C},
			model.ReachError, false, ReasonOneTimeout},
		{"EHOSTUNREACH twice with the control up", model.ReachBlocked, []probes.Outcome{U, U}, []probes.Outcome{C, C},
			model.ReachBlocked, true, "2 timed out"},
		{"an intercepted handshake is neither allowed nor blocked", model.ReachBlocked, []probes.Outcome{I}, []probes.Outcome{C},
			model.ReachError, true, ReasonIntercepted},
		{"a connection still wins over an interception", model.ReachBlocked, []probes.Outcome{I, C}, []probes.Outcome{C, C},
			model.ReachAllowed, true, "connected"},
		{"exec failures prove nothing", model.ReachBlocked, []probes.Outcome{O, O}, []probes.Outcome{C, C},
			model.ReachError, false, "no attempt gave an answer"},
		{"an allowed path refused with the control up is blocked", model.ReachAllowed, []probes.Outcome{R}, []probes.Outcome{C},
			model.ReachBlocked, true, "1 refused"},
		{"an allowed path silent twice is not yet blocked (a busy node)", model.ReachAllowed, []probes.Outcome{T, T}, []probes.Outcome{C, C},
			model.ReachError, false, "timed out 2 time(s) with its controls up and never connected; a block needs a refusal or 3 timeouts"},
		{"an allowed path silent in all three rounds is blocked", model.ReachAllowed, []probes.Outcome{T, T, T}, []probes.Outcome{C, C, C},
			model.ReachBlocked, true, "3 timed out"},
		{"an allowed path silent once", model.ReachAllowed, []probes.Outcome{T}, []probes.Outcome{C},
			model.ReachError, false, "timed out 1 time(s)"},
	}
	sourceCases := []struct {
		name     string
		attempts []probes.Outcome
		src      []probes.Outcome
		reach    model.Reach
		why      string
	}{
		{"the source reached nothing in that round", []probes.Outcome{R}, []probes.Outcome{T}, model.ReachError, ReasonSourceDown},
		{"the source's network came back in round 2", []probes.Outcome{T, T, T}, []probes.Outcome{T, C, C}, model.ReachBlocked, "2 timed out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := observed(path, tt.attempts...)
			var ctl *Observation
			if tt.ctl != nil {
				ctl = observed(control, tt.ctl...)
			}
			src := observed(source, repeat(C, len(tt.attempts))...)
			d := decide(tt.want, o, ctl, src)
			assert.Equal(t, tt.reach, d.reach, d.why)
			assert.Equal(t, tt.settled, d.settled, d.why)
			assert.Contains(t, d.why, tt.why)
		})
	}
	for _, tt := range sourceCases {
		t.Run(tt.name, func(t *testing.T) {
			ctl := observed(control, repeat(C, len(tt.attempts))...)
			d := decide(model.ReachBlocked, observed(path, tt.attempts...), ctl, observed(source, tt.src...))
			assert.Equal(t, tt.reach, d.reach, d.why)
			assert.Contains(t, d.why, tt.why)
		})
	}
	t.Run("no source observation proves nothing", func(t *testing.T) {
		d := decide(model.ReachBlocked, observed(path, R), observed(control, C), nil)
		assert.Equal(t, model.ReachError, d.reach)
		assert.Equal(t, ReasonSourceDown, d.why)
	})

	t.Run("a control itself must connect", func(t *testing.T) {
		d := decide(model.ReachAllowed, observed(control, T, R), nil, nil)
		assert.Equal(t, model.ReachError, d.reach)
		assert.Contains(t, d.why, ReasonNeverAnswered)
		d = decide(model.ReachAllowed, observed(control, T, C), nil, nil)
		assert.Equal(t, model.ReachAllowed, d.reach)
	})
}

func repeat(o probes.Outcome, n int) []probes.Outcome {
	out := make([]probes.Outcome, n)
	for i := range out {
		out[i] = o
	}
	return out
}
