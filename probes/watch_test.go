package probes

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A watch probes every target each round, rounds interval apart, and sees
// a listener go away between two rounds: the timeline a fail-open window
// is read from.
func TestWatchRoundsFollowTheNetwork(t *testing.T) {
	a := startAgent(t)
	l, err := net.Listen("tcp", loopback+":0")
	require.NoError(t, err)
	closing := l.Addr().(*net.TCPAddr).Port
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	w := Watch{Batch: Batch{TimeoutMs: 200, Targets: []Target{
		{ID: "agent", Host: loopback, Port: a.Port, Protocol: TCP},
		{ID: "closing", Host: loopback, Port: closing, Protocol: TCP, Mode: Connect},
	}}, IntervalMs: 50, DurationMs: 60_000}
	require.NoError(t, w.Validate())
	var rounds []Round
	enough := errors.New("enough")
	err = RunWatch(context.Background(), w, func(r Round) error {
		rounds = append(rounds, r)
		switch r.Round {
		case 5:
			l.Close()
		case 11:
			return enough
		}
		return nil
	})
	require.ErrorIs(t, err, enough)
	require.Len(t, rounds, 12)
	for i, r := range rounds {
		assert.Equal(t, i, r.Round)
		require.Len(t, r.Ticks, 2)
		assert.Equal(t, "agent", r.Ticks[0].ID)
		assert.Equal(t, Connected, r.Ticks[0].Outcome, "round %d", i)
		if i > 0 {
			assert.Greater(t, r.StartMs, rounds[i-1].StartMs, "rounds follow one another")
		}
	}
	avg := float64(rounds[len(rounds)-1].StartMs-rounds[0].StartMs) / float64(len(rounds)-1)
	assert.GreaterOrEqual(t, avg, 45.0, "never faster than the interval (a late round is caught up, not doubled)")
	// The listener accepts but never greets: not Connected, and after it
	// closed, refused.
	assert.NotEqual(t, Connected, rounds[2].Ticks[1].Outcome)
	assert.Equal(t, Refused, rounds[len(rounds)-1].Ticks[1].Outcome, "the closed listener refuses")
}

// The watch stops when its reader goes away (the exec stream closed),
// without waiting for its duration.
func TestWatchStopsWhenEmitFails(t *testing.T) {
	a := startAgent(t)
	w := Watch{Batch: Batch{Targets: []Target{{ID: "x", Host: loopback, Port: a.Port, Protocol: UDP}}}, IntervalMs: 10, DurationMs: 60_000}
	start := time.Now()
	n := 0
	err := RunWatch(context.Background(), w, func(Round) error {
		n++
		if n == 3 {
			return errors.New("broken pipe")
		}
		return nil
	})
	assert.ErrorContains(t, err, "write round 2: broken pipe")
	assert.Less(t, time.Since(start), 5*time.Second)
}

func TestWatchCommandStreamsJSONLines(t *testing.T) {
	a := startAgent(t)
	in, _ := json.Marshal(Watch{Batch: Batch{Targets: []Target{{ID: "t", Host: loopback, Port: a.Port, Protocol: TCP}}}, IntervalMs: 100, DurationMs: 450})
	var out, errb bytes.Buffer
	code := Main(context.Background(), []string{"watch"}, bytes.NewReader(in), &out, &errb)
	require.Equal(t, 0, code, errb.String())
	sc := bufio.NewScanner(&out)
	n := 0
	for sc.Scan() {
		var r Round
		require.NoError(t, json.Unmarshal(sc.Bytes(), &r), sc.Text())
		assert.Equal(t, n, r.Round)
		n++
	}
	assert.GreaterOrEqual(t, n, 1)
	assert.LessOrEqual(t, n, 5, "rounds start at 0, 100, ... 400 ms at the most")
}

func TestWatchValidate(t *testing.T) {
	for _, tc := range []struct {
		w    Watch
		want string
	}{
		{Watch{DurationMs: 1000}, "no targets"},
		{Watch{Batch: Batch{Targets: []Target{{Host: "h", Port: 1, Protocol: TCP}}}}, "durationMs 0"},
		{Watch{Batch: Batch{Targets: []Target{{Host: "h", Port: 1, Protocol: TCP}}}, DurationMs: int(25 * time.Hour / time.Millisecond)}, "durationMs"},
		{Watch{Batch: Batch{Targets: []Target{{Host: "h", Port: 0, Protocol: TCP}}}, DurationMs: 1}, "port 0 out of range"},
	} {
		assert.ErrorContains(t, tc.w.Validate(), tc.want)
	}
	var errb bytes.Buffer
	code := Main(context.Background(), []string{"watch"}, strings.NewReader(`{"targets":[],"durationMs":1,"bogus":1}`), &bytes.Buffer{}, &errb)
	assert.Equal(t, 2, code)
	assert.Contains(t, errb.String(), "unknown field")
}
