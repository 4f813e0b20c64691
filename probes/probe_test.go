package probes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const loopback = "127.0.0.1"

// freePort returns a port that is free for both TCP and UDP on every
// interface, as Serve binds it. Nothing listens on it when it returns.
func freePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", ":0")
		require.NoError(t, err)
		port := l.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", ":"+strconv.Itoa(port))
		l.Close()
		if err != nil {
			continue // taken for UDP: try another
		}
		pc.Close()
		return port
	}
	t.Fatal("no port free for both TCP and UDP")
	return 0
}

// agent is a running Serve on free loopback ports.
type agent struct {
	Port, DNSPort int
}

// startAgent runs Serve with the stand-in resolver until the test ends and
// waits until every listener answers.
func startAgent(t *testing.T) agent {
	t.Helper()
	a := agent{Port: freePort(t), DNSPort: freePort(t)}
	require.NotEqual(t, a.Port, a.DNSPort)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ServeConfig{Port: a.Port, DNSPort: a.DNSPort}) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err, "Serve returns nil when its context ends")
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return after its context was cancelled")
		}
	})
	// The DNS UDP listener is the last one Serve opens: once it answers,
	// all four do.
	probe := Target{Host: loopback, Port: a.DNSPort, Protocol: UDP, Mode: DNS}
	require.Eventually(t, func() bool {
		select {
		case err := <-done:
			t.Errorf("Serve ended early: %v", err)
			return true
		default:
		}
		return Probe(context.Background(), probe, 200*time.Millisecond).Outcome == Connected
	}, 5*time.Second, 20*time.Millisecond, "agent on ports %d and %d never answered", a.Port, a.DNSPort)
	return a
}

func TestProbeOutcomes(t *testing.T) {
	a := startAgent(t)
	closed := freePort(t)

	// A UDP socket that reads but never answers: silence, not a reject.
	silent, err := net.ListenPacket("udp", loopback+":0")
	require.NoError(t, err)
	t.Cleanup(func() { silent.Close() })
	silentPort := silent.LocalAddr().(*net.UDPAddr).Port

	tests := []struct {
		name    string
		target  Target
		want    Outcome
		wantAny []Outcome // when the kernel may answer either way
	}{
		{name: "tcp connected", target: Target{Port: a.Port, Protocol: TCP}, want: Connected},
		{name: "tcp refused on a closed port", target: Target{Port: closed, Protocol: TCP}, want: Refused},
		{name: "udp echo connected", target: Target{Port: a.Port, Protocol: UDP}, want: Connected},
		{name: "udp refused on a closed port", target: Target{Port: closed, Protocol: UDP}, want: Refused},
		{name: "udp to a silent socket times out", target: Target{Port: silentPort, Protocol: UDP}, want: Timeout},
		{name: "dns over udp connected", target: Target{Port: a.DNSPort, Protocol: UDP, Mode: DNS}, want: Connected},
		{name: "dns over tcp connected", target: Target{Port: a.DNSPort, Protocol: TCP, Mode: DNS}, want: Connected},
		{name: "dns with an explicit name", target: Target{Port: a.DNSPort, Protocol: UDP, Mode: DNS, QueryName: "tenant-a.example."}, want: Connected},
		{name: "dns over udp to the echo port gets no answer", target: Target{Port: a.Port, Protocol: UDP, Mode: DNS}, want: Timeout},
		// The greeting is not a DNS answer: the server closes on a query it
		// never read, so the client sees a short read or a reset.
		{name: "dns over tcp to a port that just greets", target: Target{Port: a.Port, Protocol: TCP, Mode: DNS}, wantAny: []Outcome{Other, Refused}},
		{name: "dns over tcp to a closed port", target: Target{Port: closed, Protocol: TCP, Mode: DNS}, want: Refused},
		{name: "dns name without the final dot", target: Target{Port: a.DNSPort, Protocol: TCP, Mode: DNS, QueryName: "kubernetes.default"}, want: Connected},
		{name: "dns name that cannot be sent", target: Target{Port: a.DNSPort, Protocol: UDP, Mode: DNS, QueryName: strings.Repeat("x", 64) + ".example."}, want: Other},
		{name: "unknown protocol", target: Target{Port: a.Port, Protocol: "sctp"}, want: Other},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.target.ID, tt.target.Host = tt.name, loopback
			r := Probe(context.Background(), tt.target, 500*time.Millisecond)
			assert.Equal(t, tt.target, r.Target, "the result echoes its target")
			if tt.wantAny != nil {
				assert.Contains(t, tt.wantAny, r.Outcome, "detail: %s", r.Detail)
			} else {
				assert.Equal(t, tt.want, r.Outcome, "detail: %s", r.Detail)
			}
			if r.Outcome == Connected {
				assert.Empty(t, r.Detail)
			} else {
				assert.NotEmpty(t, r.Detail, "a failed probe says why")
			}
			assert.Greater(t, r.LatencyMs, 0.0)
			assert.Less(t, r.LatencyMs, 2000.0)
		})
	}
}

func TestProbeHonoursTimeout(t *testing.T) {
	silent, err := net.ListenPacket("udp", loopback+":0")
	require.NoError(t, err)
	t.Cleanup(func() { silent.Close() })
	target := Target{Host: loopback, Port: silent.LocalAddr().(*net.UDPAddr).Port, Protocol: UDP}

	start := time.Now()
	r := Probe(context.Background(), target, 300*time.Millisecond)
	took := time.Since(start)
	assert.Equal(t, Timeout, r.Outcome, r.Detail)
	assert.GreaterOrEqual(t, took, 300*time.Millisecond)
	assert.Less(t, took, 2*time.Second)
}

func TestServeFailsOnTakenPort(t *testing.T) {
	l, err := net.Listen("tcp", ":0")
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	port := l.Addr().(*net.TCPAddr).Port

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = Serve(ctx, ServeConfig{Port: port})
	require.Error(t, err)
	assert.Contains(t, err.Error(), fmt.Sprintf("listen tcp :%d", port))
}

func TestRunBatchKeepsOrderAndIDs(t *testing.T) {
	a := startAgent(t)
	closed := freePort(t)
	targets := []Target{
		{ID: "a-tcp", Host: loopback, Port: a.Port, Protocol: TCP},
		{ID: "b-closed-tcp", Host: loopback, Port: closed, Protocol: TCP},
		{ID: "c-udp", Host: loopback, Port: a.Port, Protocol: UDP},
		{ID: "d-closed-udp", Host: loopback, Port: closed, Protocol: UDP},
		{ID: "e-dns-tcp", Host: loopback, Port: a.DNSPort, Protocol: TCP, Mode: DNS},
		{ID: "f-dns-udp", Host: loopback, Port: a.DNSPort, Protocol: UDP, Mode: DNS},
		{ID: "g-tcp-again", Host: loopback, Port: a.Port, Protocol: TCP},
	}
	want := []Outcome{Connected, Refused, Connected, Refused, Connected, Connected, Connected}

	for _, concurrency := range []int{0, 1, 2, len(targets)} {
		t.Run("concurrency "+strconv.Itoa(concurrency), func(t *testing.T) {
			ans := RunBatch(context.Background(), Batch{Targets: targets, Concurrency: concurrency, TimeoutMs: 1000})
			require.Len(t, ans.Results, len(targets))
			for i, r := range ans.Results {
				assert.Equal(t, targets[i].ID, r.Target.ID, "result %d", i)
				assert.Equal(t, targets[i], r.Target, "result %d", i)
				assert.Equal(t, want[i], r.Outcome, "result %d (%s): %s", i, r.Target.ID, r.Detail)
			}
		})
	}
}

func TestRunBatchEmpty(t *testing.T) {
	ans := RunBatch(context.Background(), Batch{})
	assert.Empty(t, ans.Results)
}

func TestTargetTimeout(t *testing.T) {
	tests := []struct {
		name         string
		targetMs     int
		batchDefault int
		want         time.Duration
	}{
		{"target wins", 250, 700, 250 * time.Millisecond},
		{"batch default", 0, 700, 700 * time.Millisecond},
		{"built-in default", 0, 0, time.Second},
		{"negative values fall through", -5, -5, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Target{TimeoutMs: tt.targetMs}.timeout(tt.batchDefault))
		})
	}
}

// timeoutErr is a net.Error that says it timed out without being a deadline.
type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout (fake)" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestClassify(t *testing.T) {
	opErr := func(errno syscall.Errno) error {
		return &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", errno)}
	}
	tests := []struct {
		name string
		err  error
		want Outcome
	}{
		{"nil is connected", nil, Connected},
		{"ECONNREFUSED", opErr(syscall.ECONNREFUSED), Refused},
		{"bare ECONNREFUSED", syscall.ECONNREFUSED, Refused},
		{"EHOSTUNREACH", opErr(syscall.EHOSTUNREACH), Unreachable},
		{"ENETUNREACH", opErr(syscall.ENETUNREACH), Other},
		{"EACCES", opErr(syscall.EACCES), Refused},
		{"EPERM", opErr(syscall.EPERM), Refused},
		{"ECONNRESET", fmt.Errorf("read: %w", syscall.ECONNRESET), Refused},
		{"context deadline", context.DeadlineExceeded, Timeout},
		{"wrapped context deadline", fmt.Errorf("dial: %w", context.DeadlineExceeded), Timeout},
		{"socket deadline", &net.OpError{Op: "read", Net: "udp", Err: os.ErrDeadlineExceeded}, Timeout},
		{"net.Error timeout", timeoutErr{}, Timeout},
		{"unknown error", errors.New("boom"), Other},
		{"short read", io.ErrUnexpectedEOF, Other},
		{"cancelled is not a timeout", context.Canceled, Other},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, detail := classify(tt.err)
			assert.Equal(t, tt.want, got)
			if tt.err == nil {
				assert.Empty(t, detail)
			} else {
				assert.Contains(t, detail, tt.err.Error(), "the detail keeps the raw error")
			}
		})
	}
}

// A mimic listens on its workload's real ports, each on its own protocol,
// and (Port 0) on nothing else.
func TestServeListensOnExtraPorts(t *testing.T) {
	tcpPort, udpPort := freePort(t), freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, ServeConfig{Listen: []Listen{{Port: tcpPort, Protocol: TCP}, {Port: udpPort, Protocol: UDP}}})
	}()
	require.Eventually(t, func() bool {
		return Probe(context.Background(), Target{Host: loopback, Port: tcpPort, Protocol: TCP}, 200*time.Millisecond).Outcome == Connected
	}, 5*time.Second, 20*time.Millisecond)
	assert.Equal(t, Connected, Probe(context.Background(), Target{Host: loopback, Port: udpPort, Protocol: UDP}, time.Second).Outcome)
	assert.Equal(t, Refused, Probe(context.Background(), Target{Host: loopback, Port: udpPort, Protocol: TCP}, time.Second).Outcome,
		"a UDP port of the workload is not answered over TCP")
	cancel()
	assert.NoError(t, <-done)
}

func TestParseListen(t *testing.T) {
	l, err := ParseListen("9090/tcp")
	require.NoError(t, err)
	assert.Equal(t, Listen{Port: 9090, Protocol: TCP}, l)
	l, err = ParseListen("5353/UDP")
	require.NoError(t, err)
	assert.Equal(t, Listen{Port: 5353, Protocol: UDP}, l)
	for _, bad := range []string{"9090", "0/tcp", "70000/tcp", "53/sctp", "x/udp"} {
		_, err := ParseListen(bad)
		assert.Error(t, err, bad)
	}
}

// A resolver that takes most of the connect's budget must not turn a
// reachable target into a timeout (read as blocked): the lookup has its own
// budget, and a lookup that fails is a DNS error, never a timeout.
func TestSlowResolverDoesNotEatTheConnectBudget(t *testing.T) {
	a := startAgent(t)
	slow := func(delay time.Duration, addr string, err error) func(context.Context, string) ([]string, error) {
		return func(ctx context.Context, host string) ([]string, error) {
			select {
			case <-time.After(delay):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if err != nil {
				return nil, err
			}
			return []string{addr}, nil
		}
	}
	t.Cleanup(func() { lookupHost = net.DefaultResolver.LookupHost })

	lookupHost = slow(400*time.Millisecond, loopback, nil)
	r := Probe(context.Background(), Target{Host: "tc-probe.tenant-b.svc.cluster.local.", Port: a.Port, Protocol: TCP}, 300*time.Millisecond)
	assert.Equal(t, Connected, r.Outcome, "a lookup slower than the connect timeout: %s", r.Detail)

	lookupHost = slow(ResolveTimeout+time.Second, loopback, nil)
	r = Probe(context.Background(), Target{Host: "tc-probe.tenant-b.svc.cluster.local.", Port: a.Port, Protocol: TCP}, 300*time.Millisecond)
	assert.Equal(t, DNSError, r.Outcome, "a lookup that never answers is a DNS error, not a blocked path: %s", r.Detail)
}
