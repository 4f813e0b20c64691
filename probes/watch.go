package probes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// Watch is the agent's input in watch mode: the same targets probed round
// after round, one exec for the whole watch (issue 15: an exec per round
// cannot reach several rounds a second through the API server).
type Watch struct {
	Batch
	// IntervalMs is the time from one round's start to the next's (default
	// 200). A round that takes longer is followed at once: rounds never
	// overlap, so each round's results are one moment of the network.
	IntervalMs int `json:"intervalMs,omitempty"`
	// DurationMs ends the watch; it is required, so that an agent whose
	// caller went away without closing the stream still stops.
	DurationMs int `json:"durationMs"`
}

// MaxWatch bounds a watch's duration.
const MaxWatch = 24 * time.Hour

const defaultWatchInterval = 200 * time.Millisecond

// Round is one line of the agent's output in watch mode.
type Round struct {
	Round int `json:"round"`
	// StartMs is when the round began, in Unix milliseconds on the pod's
	// clock (the node's).
	StartMs int64  `json:"startMs"`
	Ticks   []Tick `json:"ticks"`
}

// Tick is one target's outcome in a round: the Result without the echo of
// its target, which the caller knows by ID.
type Tick struct {
	ID        string  `json:"id"`
	Outcome   Outcome `json:"outcome"`
	LatencyMs float64 `json:"latencyMs"`
	Detail    string  `json:"detail,omitempty"`
}

// Validate rejects a watch the agent cannot run.
func (w Watch) Validate() error {
	var errs []error
	if err := w.Batch.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(w.Targets) == 0 {
		errs = append(errs, errors.New("no targets"))
	}
	if w.DurationMs <= 0 || time.Duration(w.DurationMs)*time.Millisecond > MaxWatch {
		errs = append(errs, fmt.Errorf("durationMs %d: want 1 to %d", w.DurationMs, MaxWatch.Milliseconds()))
	}
	if w.IntervalMs < 0 {
		errs = append(errs, fmt.Errorf("intervalMs %d: want 0 or more", w.IntervalMs))
	}
	return errors.Join(errs...)
}

// RunWatch probes w's targets every interval until the duration is over,
// ctx ends, or emit fails (the caller stopped reading), handing each round
// to emit as soon as it is done.
func RunWatch(ctx context.Context, w Watch, emit func(Round) error) error {
	interval := time.Duration(w.IntervalMs) * time.Millisecond
	if w.IntervalMs == 0 {
		interval = defaultWatchInterval
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(w.DurationMs)*time.Millisecond)
	defer cancel()
	next := time.Now()
	for n := 0; ; n++ {
		start := time.Now()
		ans := RunBatch(ctx, w.Batch)
		if ctx.Err() != nil {
			// The watch ended during the round: its results would read
			// the cancellation as the network's answer.
			return nil
		}
		r := Round{Round: n, StartMs: start.UnixMilli(), Ticks: make([]Tick, len(ans.Results))}
		for i, res := range ans.Results {
			r.Ticks[i] = Tick{ID: res.Target.ID, Outcome: res.Outcome, LatencyMs: res.LatencyMs, Detail: res.Detail}
		}
		if err := emit(r); err != nil {
			return fmt.Errorf("write round %d: %w", n, err)
		}
		next = next.Add(interval)
		if wait := time.Until(next); wait > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(wait):
			}
		} else {
			next = time.Now()
		}
	}
}

func watchCmd(ctx context.Context, stdin io.Reader, stdout io.Writer) error {
	dec := json.NewDecoder(stdin)
	dec.DisallowUnknownFields()
	var w Watch
	if err := dec.Decode(&w); err != nil {
		return fmt.Errorf("read watch from stdin: %w", err)
	}
	if err := w.Validate(); err != nil {
		return err
	}
	enc := json.NewEncoder(stdout) // one line per round
	return RunWatch(ctx, w, func(r Round) error { return enc.Encode(r) })
}
