package probes

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// RunBatch probes every target of b concurrently, at most b.Concurrency at a
// time, and returns the results in the order of the targets.
func RunBatch(ctx context.Context, b Batch) Answer {
	limit := b.Concurrency
	if limit <= 0 {
		limit = defaultConcurrency
	}
	results := make([]Result, len(b.Targets))
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i, t := range b.Targets {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			results[i] = Probe(ctx, t, t.timeout(b.TimeoutMs))
		}()
	}
	wg.Wait()
	return Answer{Results: results}
}

// ResolveTimeout bounds the name lookup of a target given by name. It is a
// budget of its own: a slow resolver must never eat into the connect's, or a
// reachable target would time out and read as blocked.
const ResolveTimeout = 3 * time.Second

// Probe tries one target: the name lookup (when the host is a name) within
// ResolveTimeout, then the connect within timeout. A failed lookup is a
// DNSError, whatever made it fail: nothing was sent to the target.
func Probe(ctx context.Context, t Target, timeout time.Duration) Result {
	start := time.Now()
	res := Result{Target: t}
	rctx, rcancel := context.WithTimeout(ctx, ResolveTimeout)
	addr, err := resolve(rctx, t.Host)
	rcancel()
	if err != nil {
		res.Outcome, res.Detail = DNSError, err.Error()
		res.LatencyMs = float64(time.Since(start).Microseconds()) / 1000
		return res
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start = time.Now() // the latency is the connect's; the lookup had its own budget
	hostport := net.JoinHostPort(addr, strconv.Itoa(t.Port))
	switch {
	case t.Mode == DNS:
		err = queryDNS(ctx, t.Protocol, hostport, t.QueryName)
	case t.Protocol == TCP:
		err = connectTCP(ctx, hostport, t.Nonce)
	case t.Protocol == UDP:
		err = pingUDP(ctx, hostport)
	default:
		err = fmt.Errorf("unknown protocol %q", t.Protocol)
	}
	res.Outcome, res.Detail = classify(err)
	res.LatencyMs = float64(time.Since(start).Microseconds()) / 1000
	return res
}

// lookupHost is the resolver (a test swaps in a slow one).
var lookupHost = net.DefaultResolver.LookupHost

func resolve(ctx context.Context, host string) (string, error) {
	if net.ParseIP(host) != nil {
		return host, nil
	}
	addrs, err := lookupHost(ctx, host)
	if err != nil {
		return "", err
	}
	if len(addrs) == 0 {
		return "", fmt.Errorf("lookup %s: no addresses", host)
	}
	return addrs[0], nil
}

// classify maps a probe error to an outcome. An active "no" from the target
// or its firewall (a TCP reset, an ICMP port unreachable) is Refused;
// silence is Timeout; ICMP host unreachable or prohibited is Unreachable.
func classify(err error) (Outcome, string) {
	if err == nil {
		return Connected, ""
	}
	var ne net.Error
	var ie *interceptedError
	switch {
	case errors.As(err, &ie):
		return Intercepted, err.Error()
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM),
		errors.Is(err, syscall.ECONNRESET):
		return Refused, err.Error()
	case errors.Is(err, syscall.EHOSTUNREACH):
		return Unreachable, err.Error()
	case errors.Is(err, syscall.ENETUNREACH):
		// The source has no route at all: its own network, not a policy.
		return Other, "no route from the source (not a policy answer): " + err.Error()
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return Timeout, err.Error()
	}
	return Other, err.Error()
}

// connectTCP connects and reads the target agent's greeting. A handshake
// alone proves nothing under a sidecar proxy, which accepts every outbound
// connect locally: without the greeting (closed, reset, silent or another
// greeting) the connection was intercepted.
func connectTCP(ctx context.Context, hostport, nonce string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", hostport)
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetReadDeadline(dl)
	}
	got, err := readLine(c, 128)
	switch {
	case err == nil && nonce == "" && strings.HasPrefix(got, Greeting("")[:len("tenantcheck")]):
		return nil
	case err == nil && got == Greeting(nonce):
		return nil
	case err == nil:
		return &interceptedError{fmt.Sprintf("handshake completed, but the greeting was %q, not %q", got, Greeting(nonce))}
	}
	return &interceptedError{fmt.Sprintf("handshake completed, but no greeting came: %v", err)}
}

// readLine reads up to a newline (included) or max bytes.
func readLine(c net.Conn, max int) (string, error) {
	buf := make([]byte, 0, max)
	one := make([]byte, 1)
	for len(buf) < max {
		n, err := c.Read(one)
		if n == 1 {
			buf = append(buf, one[0])
			if one[0] == '\n' {
				return string(buf), nil
			}
		}
		if err != nil {
			return string(buf), err
		}
	}
	return string(buf), nil
}

// interceptedError: the TCP handshake completed but the target agent did
// not answer on it.
type interceptedError struct{ detail string }

func (e *interceptedError) Error() string { return "intercepted (sidecar/proxy?): " + e.detail }

// pingUDP sends one datagram and waits for the agent's echo. Without an echo
// there is no telling a drop from a slow server, so the agent always answers.
func pingUDP(ctx context.Context, hostport string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", hostport)
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	msg := []byte(udpPing)
	buf := make([]byte, 64)
	// Resend a few times inside the budget: one lost datagram is not a block.
	for {
		if _, err := c.Write(msg); err != nil {
			return err
		}
		_ = c.SetReadDeadline(earliest(ctx, 250*time.Millisecond))
		n, err := c.Read(buf)
		if err == nil && string(buf[:n]) == udpPong {
			return nil
		}
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

func earliest(ctx context.Context, d time.Duration) time.Time {
	t := time.Now().Add(d)
	if dl, ok := ctx.Deadline(); ok && dl.Before(t) {
		return dl
	}
	return t
}

const (
	udpPing = "tenantcheck-ping"
	udpPong = "tenantcheck-pong"
)
