package model

import "fmt"

// Reach is what a network observation says about one path: could the
// source open a connection to the target?
type Reach string

// The reachability values. ReachError means the probe produced no
// trustworthy answer and says nothing about the policy.
const (
	ReachAllowed Reach = "Allowed"
	ReachBlocked Reach = "Blocked"
	ReachError   Reach = "Error"
)

// Valid reports whether r is one of the known reachability values.
func (r Reach) Valid() bool {
	return r == ReachAllowed || r == ReachBlocked || r == ReachError
}

// Symbol is the one-character form used in matrices, as cyclonus prints
// them: "." allowed, "X" blocked, "!" error, "?" not probed.
func (r Reach) Symbol() string {
	switch r {
	case ReachAllowed:
		return "."
	case ReachBlocked:
		return "X"
	case ReachError:
		return "!"
	}
	return "?"
}

// Outcome is what one network probe reported, before any interpretation.
// The values are the strings the in-pod probe agent writes in its JSON.
type Outcome string

// The outcomes of one probe attempt.
const (
	// OutcomeConnected: the connection (TCP) or the echo (UDP) succeeded.
	OutcomeConnected Outcome = "connected"
	// OutcomeRefused: the target answered with a reset or an ICMP unreachable.
	OutcomeRefused Outcome = "refused"
	// OutcomeTimeout: nothing came back within the probe timeout.
	OutcomeTimeout Outcome = "timeout"
	// OutcomeDNSError: the target name did not resolve.
	OutcomeDNSError Outcome = "dns-error"
	// OutcomeOther: anything else (exec failed, bad request, agent crash...).
	OutcomeOther Outcome = "other"
	// OutcomeIntercepted: a TCP handshake completed but the target's
	// greeting never came: a sidecar or proxy answered in its place.
	OutcomeIntercepted Outcome = "intercepted"
	// OutcomeUnreachable: an ICMP host unreachable or prohibited came back.
	// A firewall that rejects this way and a route that is down look the
	// same, so it is judged like a timeout (with controls, twice).
	OutcomeUnreachable Outcome = "unreachable"
)

// ReachOf interprets the outcome of a connection probe.
//
// Connected is positive evidence of a path. Refused and Timeout both read as
// Blocked, because NetworkPolicy implementations either drop (timeout) or
// reject (refused); that reading is only sound when the positive control for
// the same target succeeded, which JudgeReach checks.
//
// A DNS error maps to Error, not Blocked: when the target is a service name
// in another namespace, a failed lookup means the probe never tried the path
// under test, so it is no evidence that the path is blocked. Checks whose
// subject is DNS itself do not need a different reading: the probe agent's
// "dns" mode sends a query straight to the resolver's IP and reports
// connected (an answer came back) or timeout/refused like any other path.
func ReachOf(o Outcome) Reach {
	switch o {
	case OutcomeConnected:
		return ReachAllowed
	case OutcomeRefused, OutcomeTimeout, OutcomeUnreachable:
		return ReachBlocked
	}
	return ReachError
}

// Protocol is the transport a network probe uses.
type Protocol string

// The probed transports.
const (
	ProtocolTCP Protocol = "TCP"
	ProtocolUDP Protocol = "UDP"
)

// Via is how a probe addresses its target.
type Via string

// The ways of addressing a target.
const (
	ViaPodIP       Via = "pod-ip"
	ViaServiceIP   Via = "service-ip"
	ViaServiceName Via = "service-name"
)

// Title is the human form of v, as used in matrix names ("via pod IP").
func (v Via) Title() string {
	switch v {
	case ViaPodIP:
		return "pod IP"
	case ViaServiceIP:
		return "service IP"
	case ViaServiceName:
		return "service name"
	}
	return string(v)
}

// MatrixName names the matrix of one (protocol, port, via) combination,
// e.g. "TCP/8080 via pod IP".
func MatrixName(p Protocol, port int, via Via) string {
	return fmt.Sprintf("%s/%d via %s", p, port, via.Title())
}
