package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Millis is a time.Duration that serialises as whole milliseconds, so every
// duration in a stored report is a plain integer in a field ending in "Ms".
type Millis time.Duration

// MarshalJSON writes d as integer milliseconds.
func (d Millis) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatInt(time.Duration(d).Milliseconds(), 10)), nil
}

// UnmarshalJSON reads integer milliseconds.
func (d *Millis) UnmarshalJSON(b []byte) error {
	var ms int64
	if err := json.Unmarshal(b, &ms); err != nil {
		return fmt.Errorf("duration in milliseconds: %w", err)
	}
	*d = Millis(time.Duration(ms) * time.Millisecond)
	return nil
}

// String prints d as a time.Duration does.
func (d Millis) String() string { return time.Duration(d).Round(time.Millisecond).String() }

// Expectation is what the tenancy spec says should happen for one check:
// a reachability for network checks, or an API outcome for checks that
// send a request to the API server. Exactly one of the two is set.
type Expectation struct {
	Reach Reach      `json:"reach,omitempty"`
	API   APIOutcome `json:"api,omitempty"`
}

// ExpectReach returns the expectation that a path is Allowed or Blocked.
func ExpectReach(r Reach) Expectation { return Expectation{Reach: r} }

// ExpectAPI returns the expectation that a request ends as o.
func ExpectAPI(o APIOutcome) Expectation { return Expectation{API: o} }

// String is the expectation's display form, used in Result.Expected.
func (e Expectation) String() string {
	if e.Reach != "" {
		return string(e.Reach)
	}
	return string(e.API)
}

// Validate checks that exactly one kind of expectation is set.
func (e Expectation) Validate() error {
	switch {
	case e.Reach != "" && e.API != "":
		return errors.New("expectation sets both reach and api")
	case e.Reach == ReachAllowed || e.Reach == ReachBlocked:
		return nil
	case e.Reach != "":
		return fmt.Errorf("expected reach %q is not Allowed or Blocked", e.Reach)
	case e.API.Valid() && e.API != APIError:
		return nil
	}
	return fmt.Errorf("expected api outcome %q is not Admitted, Forbidden or Rejected", e.API)
}

// Evidence is one thing a check tried and what came back: enough for a
// person to reproduce it by pasting Repro into a shell.
type Evidence struct {
	// Action is what was tried, e.g. "connect TCP/8080" or "create pod privileged".
	Action string `json:"action"`
	// From and To name the peers, "namespace/pod" or "namespace", when they apply.
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	// Outcome is the raw probe outcome for network evidence.
	Outcome Outcome `json:"outcome,omitempty"`
	// Raw is the unparsed answer: probe JSON, API status message, ...
	Raw string `json:"raw,omitempty"`
	// Attempts counts tries, retries included.
	Attempts int `json:"attempts"`
	// Duration is the wall time of all attempts.
	Duration Millis `json:"durationMs"`
	// Repro is a command a person can paste, e.g.
	// "kubectl exec -n ns pod -- /tenantcheck-probe connect ...".
	Repro string `json:"repro,omitempty"`
	// Verdict of this one item, when a check judges several (one network
	// path among many): the report keeps the evidence of held paths too,
	// and the text renderers show only the items that did not hold.
	Verdict Verdict `json:"verdict,omitempty"`
}

// Check identifies one check and states its expectation; the layer packages
// wrap it with the function that observes the cluster.
type Check struct {
	// ID is stable across runs, e.g. "network/cross-tenant-tcp-pod-ip".
	ID          string      `json:"id"`
	Layer       Layer       `json:"layer"`
	Name        string      `json:"name"`
	Description string      `json:"description,omitempty"`
	Expected    Expectation `json:"expected"`
}

// Result is the judged outcome of one check. Judgement is embedded, so its
// verdict and reason appear at the top level of the JSON.
type Result struct {
	CheckID     string `json:"checkId"`
	Layer       Layer  `json:"layer"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Judgement
	Expected string     `json:"expected"`
	Observed string     `json:"observed,omitempty"`
	Evidence []Evidence `json:"evidence,omitempty"`
	Attempts int        `json:"attempts"`
	Duration Millis     `json:"durationMs"`
}

// Result starts the result of c with judgement j; the caller fills in what
// was observed and the evidence.
func (c Check) Result(j Judgement) Result {
	return Result{
		CheckID:     c.ID,
		Layer:       c.Layer,
		Name:        c.Name,
		Description: c.Description,
		Judgement:   j,
		Expected:    c.Expected.String(),
	}
}

// Validate checks the fields a reader of the report relies on.
func (r Result) Validate() error {
	if r.CheckID == "" {
		return errors.New("result has no check id")
	}
	if !r.Layer.Valid() {
		return fmt.Errorf("result %s: unknown layer %q", r.CheckID, r.Layer)
	}
	if err := r.Judgement.Validate(); err != nil {
		return fmt.Errorf("result %s: %w", r.CheckID, err)
	}
	return nil
}
