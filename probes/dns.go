package probes

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"

	"golang.org/x/net/dns/dnsmessage"
)

// queryDNS asks server for an A record of name over proto and accepts any
// well-formed answer with the query's ID: the question is whether a resolver
// can be reached, not what it knows.
func queryDNS(ctx context.Context, proto Protocol, server, name string) error {
	if name == "" {
		name = defaultQueryName
	}
	q, id, err := buildQuery(name)
	if err != nil {
		return err
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, string(proto), server)
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	var resp []byte
	if proto == TCP {
		resp, err = exchangeStream(c, q)
	} else {
		resp, err = exchangePacket(ctx, c, q)
	}
	if err != nil {
		return err
	}
	var p dnsmessage.Parser
	h, err := p.Start(resp)
	if err != nil {
		return fmt.Errorf("malformed DNS answer: %w", err)
	}
	if h.ID != id || !h.Response {
		return errors.New("DNS answer does not match the query")
	}
	return nil
}

func buildQuery(name string) ([]byte, uint16, error) {
	// dnsmessage packs only fully qualified names; a person pasting
	// --query kubernetes.default means the same name.
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	n, err := dnsmessage.NewName(name)
	if err != nil {
		return nil, 0, fmt.Errorf("DNS name %q: %w", name, err)
	}
	id := uint16(rand.IntN(1 << 16))
	msg := dnsmessage.Message{
		Header:    dnsmessage.Header{ID: id, RecursionDesired: true},
		Questions: []dnsmessage.Question{{Name: n, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}},
	}
	b, err := msg.Pack()
	return b, id, err
}

func exchangePacket(ctx context.Context, c net.Conn, q []byte) ([]byte, error) {
	buf := make([]byte, 1500)
	for {
		if _, err := c.Write(q); err != nil {
			return nil, err
		}
		_ = c.SetReadDeadline(earliest(ctx, 300_000_000))
		n, err := c.Read(buf)
		if err == nil {
			return buf[:n], nil
		}
		var ne net.Error
		if !(errors.As(err, &ne) && ne.Timeout()) || ctx.Err() != nil {
			return nil, err
		}
	}
}

func exchangeStream(c net.Conn, q []byte) ([]byte, error) {
	msg := make([]byte, 2+len(q))
	binary.BigEndian.PutUint16(msg, uint16(len(q)))
	copy(msg[2:], q)
	if _, err := c.Write(msg); err != nil {
		return nil, err
	}
	var l [2]byte
	if _, err := io.ReadFull(c, l[:]); err != nil {
		return nil, err
	}
	resp := make([]byte, binary.BigEndian.Uint16(l[:]))
	_, err := io.ReadFull(c, resp)
	return resp, err
}

// answerDNS builds the stand-in resolver's reply: every A question gets
// 127.0.0.1, everything else an empty answer. It exists only so that a
// "DNS to a resolver that is not kube-dns" probe has a real server to reach.
func answerDNS(query []byte) ([]byte, error) {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil, err
	}
	qs, err := p.AllQuestions()
	if err != nil {
		return nil, err
	}
	resp := dnsmessage.Message{
		Header:    dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired},
		Questions: qs,
	}
	for _, q := range qs {
		if q.Type == dnsmessage.TypeA {
			resp.Answers = append(resp.Answers, dnsmessage.Resource{
				Header: dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: 5},
				Body:   &dnsmessage.AResource{A: [4]byte{127, 0, 0, 1}},
			})
		}
	}
	return resp.Pack()
}
