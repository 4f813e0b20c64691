package model

import (
	"errors"
	"fmt"
)

// Verdict is the outcome of comparing what a check expected with what was
// observed. It is deliberately not a bool: a check that could not run
// (Error) or was not run (Skipped) must never read as "held".
type Verdict string

// The verdicts a check can reach.
const (
	// VerdictHeld: the observation matched the expectation.
	VerdictHeld Verdict = "Held"
	// VerdictBroken: the observation contradicted the expectation; isolation failed.
	VerdictBroken Verdict = "Broken"
	// VerdictError: the check could not produce a trustworthy observation.
	VerdictError Verdict = "Error"
	// VerdictSkipped: the check was not run (not applicable, disabled, ...).
	VerdictSkipped Verdict = "Skipped"
)

// Valid reports whether v is one of the known verdicts.
func (v Verdict) Valid() bool {
	switch v {
	case VerdictHeld, VerdictBroken, VerdictError, VerdictSkipped:
		return true
	}
	return false
}

// NeedsReason reports whether v must carry a reason: an Error or a Skipped
// verdict without one tells the reader nothing they can act on.
func (v Verdict) NeedsReason() bool {
	return v == VerdictError || v == VerdictSkipped
}

// Judgement is a verdict together with the reason for it.
type Judgement struct {
	Verdict Verdict `json:"verdict"`
	Reason  string  `json:"reason,omitempty"`
}

// NewJudgement returns a validated judgement; it fails when v is unknown or
// when v is Error or Skipped and reason is empty.
func NewJudgement(v Verdict, reason string) (Judgement, error) {
	j := Judgement{Verdict: v, Reason: reason}
	if err := j.Validate(); err != nil {
		return Judgement{}, err
	}
	return j, nil
}

// Held, Broken, Errored and Skipped build judgements for code whose reasons
// are literals. They do not fail; Validate (called by Report.Validate and
// DecodeReport) catches an Error or Skipped judgement given an empty reason.

// Held returns a Held judgement.
func Held(reason string) Judgement { return Judgement{Verdict: VerdictHeld, Reason: reason} }

// Broken returns a Broken judgement.
func Broken(reason string) Judgement { return Judgement{Verdict: VerdictBroken, Reason: reason} }

// Errored returns an Error judgement; reason must not be empty.
func Errored(reason string) Judgement { return Judgement{Verdict: VerdictError, Reason: reason} }

// Skipped returns a Skipped judgement; reason must not be empty.
func Skipped(reason string) Judgement { return Judgement{Verdict: VerdictSkipped, Reason: reason} }

// Validate checks that the verdict is known and that Error and Skipped
// verdicts carry a reason.
func (j Judgement) Validate() error {
	if !j.Verdict.Valid() {
		return fmt.Errorf("unknown verdict %q", j.Verdict)
	}
	if j.Verdict.NeedsReason() && j.Reason == "" {
		return errors.New("verdict " + string(j.Verdict) + " needs a reason")
	}
	return nil
}
