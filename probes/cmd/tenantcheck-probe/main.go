// Command tenantcheck-probe is the agent inside tenantcheck's probe pods.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/tenantcheck/tenantcheck/probes"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := probes.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
