package probes

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"
)

// AgentPath is where the agent lives in the probe image.
const AgentPath = "/tenantcheck-probe"

// Main is the agent's command line:
//
//	tenantcheck-probe serve [--port 8080] [--dns-port 0] [--listen PORT/tcp|udp ...]
//	tenantcheck-probe serve-artifacts --dir DIR [--port 8080]
//	tenantcheck-probe batch  < batch.json  > answer.json
//	tenantcheck-probe watch  < watch.json  > one JSON line per round
//	tenantcheck-probe connect --host H --port P [--protocol tcp|udp] [--mode connect|dns] [--timeout 1s]
//
//	tenantcheck-probe resolv   prints the pod's resolv.conf as JSON (resolvers, search list)
//
// connect is the command a person pastes to reproduce one probe; it prints the
// result as JSON and exits 0 only when the target was reached.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: tenantcheck-probe serve|serve-artifacts|batch|watch|connect|resolv [flags]")
		return 2
	}
	var err error
	code := 0
	switch args[0] {
	case "serve":
		err = serveCmd(ctx, args[1:], stderr)
	case "serve-artifacts":
		err = serveArtifactsCmd(ctx, args[1:], stderr)
	case "batch":
		err = batchCmd(ctx, stdin, stdout)
	case "watch":
		err = watchCmd(ctx, stdin, stdout)
	case "connect":
		code, err = connectCmd(ctx, args[1:], stdout, stderr)
	case "resolv":
		var rc ResolvConf
		if rc, err = ReadResolvConf(); err == nil {
			err = json.NewEncoder(stdout).Encode(rc)
		}
	default:
		err = fmt.Errorf("unknown command %q (want serve, serve-artifacts, batch, watch, connect or resolv)", args[0])
	}
	if err != nil {
		fmt.Fprintf(stderr, "tenantcheck-probe: %v\n", err)
		return 2
	}
	return code
}

func serveCmd(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := ServeConfig{}
	fs.IntVar(&cfg.Port, "port", ServePort, "TCP and UDP port (0: none)")
	fs.IntVar(&cfg.DNSPort, "dns-port", 0, "serve a stand-in DNS resolver on this port (0: off)")
	fs.StringVar(&cfg.Nonce, "nonce", "", "the run's nonce, written in the TCP greeting")
	fs.Func("listen", "also answer on PORT/tcp or PORT/udp (repeatable)", func(s string) error {
		l, err := ParseListen(s)
		if err == nil {
			cfg.Listen = append(cfg.Listen, l)
		}
		return err
	})
	if err := fs.Parse(args); err != nil {
		return err
	}
	return Serve(ctx, cfg)
}

func serveArtifactsCmd(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve-artifacts", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "directory whose files are served by name")
	port := fs.Int("port", ArtifactsPort, "TCP port")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("serve-artifacts: --dir is required")
	}
	return ServeArtifacts(ctx, *dir, *port)
}

func batchCmd(ctx context.Context, stdin io.Reader, stdout io.Writer) error {
	dec := json.NewDecoder(stdin)
	dec.DisallowUnknownFields()
	var b Batch
	if err := dec.Decode(&b); err != nil {
		return fmt.Errorf("read batch from stdin: %w", err)
	}
	if err := b.Validate(); err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(RunBatch(ctx, b))
}

func connectCmd(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("connect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var t Target
	var proto, mode string
	var timeout time.Duration
	fs.StringVar(&t.Host, "host", "", "IP or DNS name")
	fs.IntVar(&t.Port, "port", ServePort, "port")
	fs.StringVar(&proto, "protocol", string(TCP), "tcp or udp")
	fs.StringVar(&mode, "mode", string(Connect), "connect or dns")
	fs.StringVar(&t.QueryName, "query", "", "name to ask in dns mode")
	fs.StringVar(&t.Nonce, "nonce", "", "the greeting's nonce a TCP connect must read back (empty: any tenantcheck greeting)")
	fs.DurationVar(&timeout, "timeout", defaultTimeout, "probe timeout")
	if err := fs.Parse(args); err != nil {
		return 2, err
	}
	t.Protocol, t.Mode, t.TimeoutMs = Protocol(proto), Mode(mode), int(timeout.Milliseconds())
	if err := (Batch{Targets: []Target{t}}).Validate(); err != nil {
		return 2, err
	}
	r := Probe(ctx, t, timeout)
	if err := json.NewEncoder(stdout).Encode(r); err != nil {
		return 2, err
	}
	if r.Outcome != Connected {
		return 1, nil
	}
	return 0, nil
}

// Validate rejects a batch the agent cannot run, naming the bad target.
func (b Batch) Validate() error {
	var errs []error
	for i, t := range b.Targets {
		if t.Host == "" {
			errs = append(errs, fmt.Errorf("targets[%d]: host is empty", i))
		}
		if t.Port <= 0 || t.Port > 65535 {
			errs = append(errs, fmt.Errorf("targets[%d]: port %d out of range", i, t.Port))
		}
		if t.Protocol != TCP && t.Protocol != UDP {
			errs = append(errs, fmt.Errorf("targets[%d]: protocol %q (want tcp or udp)", i, t.Protocol))
		}
		if t.Mode != "" && t.Mode != Connect && t.Mode != DNS {
			errs = append(errs, fmt.Errorf("targets[%d]: mode %q (want connect or dns)", i, t.Mode))
		}
	}
	return errors.Join(errs...)
}
