package model

import (
	"fmt"
	"strings"
)

// Reasons JudgeReach gives; exported so callers and tests can match on them.
const (
	ReasonProbeError      = "probe error: the observation says nothing about the policy"
	ReasonControlFailed   = "positive control failed: server unreachable from its own namespace"
	ReasonBadExpectation  = "no valid expectation for this path"
	ReasonUnknownObserved = "unknown observation"
)

// JudgeReach compares the expected reachability of one path with what the
// probe observed. controlOK is whether the positive control for the same
// target (a probe from the target's own namespace) connected.
//
//   - an Error observation is an Error verdict, never Blocked;
//   - Blocked without a successful positive control is an Error: the server
//     may simply be down, so the block proves nothing;
//   - otherwise equal values hold and different values are Broken.
//
// Allowed needs no control: a connection is its own proof.
func JudgeReach(expected, observed Reach, controlOK bool) Judgement {
	switch {
	case expected != ReachAllowed && expected != ReachBlocked:
		return Errored(ReasonBadExpectation)
	case observed == ReachError:
		return Errored(ReasonProbeError)
	case !observed.Valid():
		return Errored(fmt.Sprintf("%s %q", ReasonUnknownObserved, observed))
	case observed == ReachBlocked && !controlOK:
		return Errored(ReasonControlFailed)
	case observed == expected:
		return Held(fmt.Sprintf("%s as expected", lower(observed)))
	}
	return Broken(fmt.Sprintf("%s, expected %s", lower(observed), lower(expected)))
}

// APIOutcome is what the API server did with one request a check made.
type APIOutcome string

// The API outcomes a check can expect or observe.
const (
	// APIAdmitted: the request was authorised and admitted.
	APIAdmitted APIOutcome = "Admitted"
	// APIForbidden: authorisation (RBAC) denied the request.
	APIForbidden APIOutcome = "Forbidden"
	// APIRejected: authorisation passed but admission (Pod Security,
	// ResourceQuota, LimitRange, webhooks) denied the request.
	APIRejected APIOutcome = "Rejected"
	// APIError: the request failed for another reason (network, 5xx, ...).
	APIError APIOutcome = "Error"
)

// Valid reports whether o is one of the known API outcomes.
func (o APIOutcome) Valid() bool {
	switch o {
	case APIAdmitted, APIForbidden, APIRejected, APIError:
		return true
	}
	return false
}

// JudgeAPI compares the expected API outcome of a request with the observed
// one. The comparison is strict: a request the RBAC check expected to be
// Forbidden but that was Rejected by admission means RBAC let it through,
// so the RBAC layer is Broken even though another layer caught it.
func JudgeAPI(expected, observed APIOutcome) Judgement {
	switch {
	case !expected.Valid() || expected == APIError:
		return Errored(ReasonBadExpectation)
	case observed == APIError:
		return Errored("api request failed: the observation says nothing about the policy")
	case !observed.Valid():
		return Errored(fmt.Sprintf("%s %q", ReasonUnknownObserved, observed))
	case observed == expected:
		return Held(fmt.Sprintf("%s as expected", lower(observed)))
	}
	return Broken(fmt.Sprintf("%s, expected %s", lower(observed), lower(expected)))
}

// lower is the lower-case form of an enum value, for reasons.
func lower[T ~string](v T) string { return strings.ToLower(string(v)) }

// Worst is the judgement of a check made of many attempts: Broken with
// every broken finding when there is one, else an Error with every error,
// else Held with held.
func Worst(held string, broken, errs []string) Judgement {
	switch {
	case len(broken) > 0:
		return Broken(strings.Join(broken, "; "))
	case len(errs) > 0:
		return Errored(strings.Join(errs, "; "))
	}
	return Held(held)
}
