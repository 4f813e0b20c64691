package probes

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// ServeConfig says what the agent serves in its pod.
type ServeConfig struct {
	Port    int // TCP and UDP; 0: none (a mimic serves only its workload's ports)
	DNSPort int // 0: no stand-in resolver
	// Nonce goes into the TCP greeting (see Greeting).
	Nonce string
	// Listen are more ports, each on one protocol, answered as Port is: a
	// mimic of a tenant's workload listens on that workload's real ports.
	Listen []Listen
}

// Listen is one extra port and its protocol.
type Listen struct {
	Port     int
	Protocol Protocol
}

// ParseListen reads "9090/tcp" or "5353/udp".
func ParseListen(s string) (Listen, error) {
	port, proto, ok := strings.Cut(s, "/")
	n, err := strconv.Atoi(port)
	switch {
	case !ok || err != nil || n < 1 || n > 65535:
		return Listen{}, fmt.Errorf("listen %q: want PORT/tcp or PORT/udp", s)
	case strings.EqualFold(proto, string(TCP)):
		return Listen{Port: n, Protocol: TCP}, nil
	case strings.EqualFold(proto, string(UDP)):
		return Listen{Port: n, Protocol: UDP}, nil
	}
	return Listen{}, fmt.Errorf("listen %q: protocol %q is not tcp or udp", s, proto)
}

// Serve answers TCP connects and UDP pings on cfg.Port, and DNS queries on
// cfg.DNSPort when set, until ctx ends.
func Serve(ctx context.Context, cfg ServeConfig) error {
	var listeners []io.Closer
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	errc := make(chan error, 4+len(cfg.Listen))
	add := func(proto string, port int, tcp func(net.Conn), udp func(net.PacketConn, []byte, net.Addr)) error {
		addr := ":" + strconv.Itoa(port)
		if proto == "tcp" {
			l, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("listen tcp %s: %w", addr, err)
			}
			listeners = append(listeners, l)
			go func() { errc <- acceptLoop(l, tcp) }()
			return nil
		}
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return fmt.Errorf("listen udp %s: %w", addr, err)
		}
		listeners = append(listeners, pc)
		go func() { errc <- packetLoop(pc, udp) }()
		return nil
	}
	if cfg.Port > 0 {
		if err := errors.Join(add("tcp", cfg.Port, greeter(cfg.Nonce), nil), add("udp", cfg.Port, nil, echo)); err != nil {
			return err
		}
	}
	for _, l := range cfg.Listen {
		var err error
		if l.Protocol == UDP {
			err = add("udp", l.Port, nil, echo)
		} else {
			err = add("tcp", l.Port, greeter(cfg.Nonce), nil)
		}
		if err != nil {
			return err
		}
	}
	if cfg.DNSPort > 0 {
		if err := errors.Join(add("tcp", cfg.DNSPort, serveDNSStream, nil), add("udp", cfg.DNSPort, nil, serveDNSPacket)); err != nil {
			return err
		}
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-errc:
		return err
	}
}

func acceptLoop(l net.Listener, handle func(net.Conn)) error {
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			handle(c)
		}()
	}
}

func packetLoop(pc net.PacketConn, handle func(net.PacketConn, []byte, net.Addr)) error {
	buf := make([]byte, 1500)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return err
		}
		handle(pc, append([]byte(nil), buf[:n]...), from)
	}
}

// greeter writes the greeting and closes: a client that reads it knows it
// reached this agent, not a proxy in between.
func greeter(nonce string) func(net.Conn) {
	msg := []byte(Greeting(nonce))
	return func(c net.Conn) { _, _ = c.Write(msg) }
}

func echo(pc net.PacketConn, msg []byte, from net.Addr) {
	if string(msg) == udpPing {
		_, _ = pc.WriteTo([]byte(udpPong), from)
	}
}

func serveDNSPacket(pc net.PacketConn, msg []byte, from net.Addr) {
	if resp, err := answerDNS(msg); err == nil {
		_, _ = pc.WriteTo(resp, from)
	}
}

func serveDNSStream(c net.Conn) {
	var l [2]byte
	if _, err := io.ReadFull(c, l[:]); err != nil {
		return
	}
	q := make([]byte, binary.BigEndian.Uint16(l[:]))
	if _, err := io.ReadFull(c, q); err != nil {
		return
	}
	resp, err := answerDNS(q)
	if err != nil {
		return
	}
	out := make([]byte, 2+len(resp))
	binary.BigEndian.PutUint16(out, uint16(len(resp)))
	copy(out[2:], resp)
	_, _ = c.Write(out)
}
