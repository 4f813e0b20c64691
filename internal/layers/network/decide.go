package network

import (
	"fmt"
	"strings"

	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/probes"
)

// decision is what all attempts of one path prove.
type decision struct {
	reach model.Reach
	why   string
	// settled: more attempts cannot change the decision (a connection was
	// seen, or a block was proven); an unsettled path is tried again.
	settled bool
}

// Reasons of the decisions that are no verdict on the policy.
const (
	ReasonControlUnreachable = "target unreachable from its own namespace in every round this path was tried, so no block is proven"
	ReasonOneTimeout         = "one timeout with the target reachable is not yet a block (a dropping CNI needs two)"
	ReasonNeverAnswered      = "the target never answered from its own namespace"
	ReasonSourceDown         = "the source pod did not reach its own namespace in the rounds the target was up, so its network, not a policy, may have stopped the path"
	ReasonAllowedSilent      = "a path that must connect timed out %d time(s) with its controls up and never connected; a block needs a refusal or %d timeouts (a busy node times out too)"
	ReasonIntercepted        = "intercepted (sidecar/proxy): the TCP handshake completed but the target's greeting never came, so nothing proves where the connection went"
)

// AllowedTimeouts is how many timeouts, each in a round where both
// controls connected, make a path that must connect Blocked (a block of a
// path that must not connect needs two): three rounds, the first try and
// the two retries.
const AllowedTimeouts = 3

// decide reads every attempt of a path, with its control's attempts (ctl,
// nil when the path has none). It is pure.
//
//   - A connection seen in any attempt is Allowed, whatever the other
//     attempts say: a must-block path that connected once is a leak.
//   - A handshake without the target's greeting (a sidecar or proxy
//     accepted it) is an Error: it proves neither Allowed nor Blocked.
//   - A block is proven only by attempts made in a round in which the
//     control (the same target from its own namespace, same port and
//     protocol) connected, and the source's own control (the source pod
//     reaching its own namespace's server) did too: one refusal, or two
//     timeouts (three for a path that must connect), since a CNI that
//     drops makes a slow or unready target look exactly like a block. An
//     ICMP host unreachable counts like a timeout: a route that is down
//     sends it too.
//   - A path without a control must connect (it is a control itself);
//     when it never does, the target is down: Error.
//   - Anything else is an Error that says why.
func decide(want model.Reach, o, ctl, src *Observation) decision {
	if o == nil || len(o.Results) == 0 {
		return decision{reach: model.ReachError, why: "never probed"}
	}
	for i, r := range o.Results {
		if r.Outcome == probes.Connected {
			why := fmt.Sprintf("connected in round %d of %d", o.Rounds[i]+1, o.Rounds[len(o.Rounds)-1]+1)
			return decision{reach: model.ReachAllowed, why: why, settled: true}
		}
	}
	for _, r := range o.Results {
		if r.Outcome == probes.Intercepted {
			return decision{reach: model.ReachError, settled: true, why: ReasonIntercepted + ": " + r.Detail}
		}
	}
	if o.Path.Control == "" {
		return decision{reach: model.ReachError, why: ReasonNeverAnswered + lastDetail(o)}
	}
	var refused, timeouts, unproven, sourceDown int
	for i, r := range o.Results {
		if r.Outcome != probes.Refused && r.Outcome != probes.Timeout && r.Outcome != probes.Unreachable {
			continue
		}
		if ctl == nil || !ctl.connectedIn(o.Rounds[i]) {
			unproven++
			continue
		}
		if o.Path.SourceControl != "" && (src == nil || !src.connectedIn(o.Rounds[i])) {
			sourceDown++
			continue
		}
		if r.Outcome == probes.Refused {
			refused++
		} else {
			timeouts++
		}
	}
	// Silence on a path that must connect is a block only when it lasts: a
	// busy node (50 tenants on two cores) timed allowed paths out twice
	// while their controls, probed seconds apart in the same round,
	// connected. A path policy really blocks stays silent every round.
	needTimeouts := 2
	if want == model.ReachAllowed {
		needTimeouts = AllowedTimeouts
	}
	switch {
	case refused >= 1 || timeouts >= needTimeouts:
		var parts []string
		if refused > 0 {
			parts = append(parts, fmt.Sprintf("%d refused", refused))
		}
		if timeouts > 0 {
			parts = append(parts, fmt.Sprintf("%d timed out", timeouts))
		}
		return decision{reach: model.ReachBlocked, settled: true,
			why: strings.Join(parts, ", ") + " in rounds where the target answered its own namespace"}
	case timeouts == 1 && want != model.ReachAllowed:
		return decision{reach: model.ReachError, why: ReasonOneTimeout}
	case timeouts >= 1:
		return decision{reach: model.ReachError, why: fmt.Sprintf(ReasonAllowedSilent, timeouts, AllowedTimeouts)}
	case sourceDown > 0:
		return decision{reach: model.ReachError, why: ReasonSourceDown}
	case unproven > 0:
		return decision{reach: model.ReachError, why: ReasonControlUnreachable}
	}
	return decision{reach: model.ReachError, why: "no attempt gave an answer" + lastDetail(o)}
}

func lastDetail(o *Observation) string {
	last := o.Last()
	if last.Detail == "" {
		return fmt.Sprintf(" (last: %s)", last.Outcome)
	}
	return fmt.Sprintf(" (last: %s: %s)", last.Outcome, last.Detail)
}
