// Command tenantcheck proves, on a live cluster, that tenant isolation holds.
// Installed as kubectl-tenantcheck on PATH, it is the kubectl plugin
// `kubectl tenantcheck`.
package main

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/tenantcheck/tenantcheck/internal/cli"
)

func main() {
	cli.Program = filepath.Base(os.Args[0])
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, cli.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}, os.Args[1:])
	stop()
	os.Exit(code)
}
