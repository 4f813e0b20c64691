// Package probes is the agent that runs inside tenantcheck's probe pods and
// the types it shares with the runner.
//
// The runner never talks to the agent over the network: a control port could
// be blocked by the very policy under test. It execs the agent with a JSON
// batch of targets on stdin and reads one JSON answer from stdout.
package probes

import "time"

// Protocol of one probe.
type Protocol string

const (
	TCP Protocol = "tcp"
	UDP Protocol = "udp"
)

// Mode says what the probe does once it reaches the target.
type Mode string

const (
	// Connect opens a TCP connection, or for UDP sends a datagram and waits
	// for the agent's echo.
	Connect Mode = "connect"
	// DNS sends a DNS query; any well-formed answer counts as connected.
	DNS Mode = "dns"
)

// Outcome of one probe. Connected means the traffic got through: for TCP,
// the target agent's greeting came back, not just a handshake; Refused and
// Timeout mean it did not (an active reject, or silence); Intercepted means
// something accepted the TCP connection but the target's greeting never
// came (a sidecar or a transparent proxy answered in its place); DNSError
// means the target's name did not resolve, so nothing was sent; Other is
// anything else.
type Outcome string

const (
	Connected   Outcome = "connected"
	Refused     Outcome = "refused"
	Timeout     Outcome = "timeout"
	Intercepted Outcome = "intercepted"
	// Unreachable: ICMP host unreachable or prohibited (EHOSTUNREACH): a
	// rejecting firewall or a route that is down, which a probe alone
	// cannot tell apart; judged like a timeout.
	Unreachable Outcome = "unreachable"
	DNSError    Outcome = "dns-error"
	Other       Outcome = "other"
)

// Greeting is what the agent writes on every TCP connection it accepts:
// "tenantcheck <nonce>\n". A run gives its servers and probes one nonce, so a
// greeting from anything but the run's own agent is told apart.
func Greeting(nonce string) string {
	if nonce == "" {
		return "tenantcheck\n"
	}
	return "tenantcheck " + nonce + "\n"
}

// Fixed ports the agent serves on in its pod.
const (
	ServePort    = 8080 // TCP and UDP
	ServeDNSPort = 53   // the stand-in resolver, when enabled
)

// Target is one thing to probe from the pod the agent runs in.
type Target struct {
	// ID is the caller's name for the target, echoed in the result.
	ID       string   `json:"id"`
	Host     string   `json:"host"` // an IP or a DNS name
	Port     int      `json:"port"`
	Protocol Protocol `json:"protocol"`
	Mode     Mode     `json:"mode,omitempty"` // default Connect
	// QueryName is the name asked in DNS mode (default kubernetes.default.svc.cluster.local).
	QueryName string `json:"queryName,omitempty"`
	TimeoutMs int    `json:"timeoutMs,omitempty"`
	// Nonce is the greeting a TCP connect must read back (see Greeting);
	// empty accepts any tenantcheck greeting.
	Nonce string `json:"nonce,omitempty"`
}

// Batch is the agent's input in batch mode.
type Batch struct {
	Targets []Target `json:"targets"`
	// Concurrency bounds the probes in flight (default 16).
	Concurrency int `json:"concurrency,omitempty"`
	// TimeoutMs is the per-probe timeout for targets that set none (default 1000).
	TimeoutMs int `json:"timeoutMs,omitempty"`
}

// Result of one target.
type Result struct {
	Target    Target  `json:"target"`
	Outcome   Outcome `json:"outcome"`
	LatencyMs float64 `json:"latencyMs"`
	// Detail is the raw error or answer, for evidence.
	Detail string `json:"detail,omitempty"`
}

// Answer is the agent's output in batch mode.
type Answer struct {
	Results []Result `json:"results"`
}

const (
	defaultTimeout     = time.Second
	defaultConcurrency = 16
	defaultQueryName   = "kubernetes.default.svc.cluster.local."
)

func (t Target) timeout(batchDefault int) time.Duration {
	switch {
	case t.TimeoutMs > 0:
		return time.Duration(t.TimeoutMs) * time.Millisecond
	case batchDefault > 0:
		return time.Duration(batchDefault) * time.Millisecond
	}
	return defaultTimeout
}
