// Command localcluster starts, stops and upgrades a real single-node Kubernetes
// cluster built from sources these machines can reach (the Go module proxy and
// Debian packages). It is tenantcheck's test bed: a real API server, kubelet,
// container runtime and (in the enforcing profile) a NetworkPolicy enforcer.
//
// It lives in its own module so that k8s.io/kubernetes and its replace
// directives never reach the main module's go.mod.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "localcluster: %v\n", err)
		os.Exit(1)
	}
}
