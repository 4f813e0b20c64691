package probes

import (
	"context"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// listenLoopback serves handle on a loopback TCP port and returns the port.
func listenLoopback(t *testing.T, handle func(net.Conn)) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

// A connect counts as Connected only when the run's own agent greets it: a
// local proxy that accepts every connect (a sidecar) is Intercepted, never
// Allowed and never Blocked.
func TestConnectNeedsTheGreeting(t *testing.T) {
	tests := []struct {
		name   string
		handle func(net.Conn)
		nonce  string
		want   Outcome
	}{
		{"the run's agent", greeter("run1"), "run1", Connected},
		{"any agent when no nonce is asked", greeter("run1"), "", Connected},
		{"another run's agent", greeter("run0"), "run1", Intercepted},
		{"a proxy that accepts and closes", func(net.Conn) {}, "run1", Intercepted},
		{"a proxy that accepts and stays silent", func(c net.Conn) { time.Sleep(2 * time.Second) }, "run1", Intercepted},
		{"a proxy that answers something else", func(c net.Conn) { _, _ = c.Write([]byte("HTTP/1.1 503\r\n")) }, "run1", Intercepted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			port := listenLoopback(t, tt.handle)
			r := Probe(context.Background(), Target{Host: "127.0.0.1", Port: port, Protocol: TCP, Nonce: tt.nonce}, 500*time.Millisecond)
			assert.Equal(t, tt.want, r.Outcome, r.Detail)
			if tt.want == Intercepted {
				assert.Contains(t, r.Detail, "intercepted")
				assert.Less(t, r.LatencyMs, 1000.0, "bounded by the probe timeout")
			}
		})
	}
}

// blackHole is a real socket that never completes a handshake: a listener
// with the smallest backlog, never accepting, whose queue is filled first.
// Further SYNs are dropped by the kernel, exactly as a dropping CNI drops
// them, so a connect can only time out.
func blackHole(t *testing.T) int {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	require.NoError(t, err)
	t.Cleanup(func() { syscall.Close(fd) })
	require.NoError(t, syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}))
	require.NoError(t, syscall.Listen(fd, 0))
	sa, err := syscall.Getsockname(fd)
	require.NoError(t, err)
	port := sa.(*syscall.SockaddrInet4).Port
	// Fill the accept queue; the dials that complete stay open until cleanup.
	for i := 0; i < 4; i++ {
		d := net.Dialer{Timeout: 200 * time.Millisecond}
		if c, err := d.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
			t.Cleanup(func() { c.Close() })
		}
	}
	return port
}

func TestConnectToABlackHoleTimesOut(t *testing.T) {
	port := blackHole(t)
	start := time.Now()
	r := Probe(context.Background(), Target{Host: "127.0.0.1", Port: port, Protocol: TCP, Nonce: "run1"}, 400*time.Millisecond)
	assert.Equal(t, Timeout, r.Outcome, "a dropped SYN is silence: %s", r.Detail)
	assert.GreaterOrEqual(t, time.Since(start), 390*time.Millisecond, "it waited out the timeout")
	assert.Less(t, time.Since(start), 2*time.Second)
}
