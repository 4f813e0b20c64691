package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/tenantcheck/tenantcheck/internal/provision"
)

// cleanupCmd removes every namespace tenantcheck created (or one run's),
// found by label, and waits until they are gone.
func cleanupCmd(ctx context.Context, s Streams, args []string) error {
	fs := flag.NewFlagSet("cleanup", flag.ContinueOnError)
	fs.SetOutput(s.Err)
	var cf clusterFlags
	cf.register(fs)
	runID := fs.String("run", "", "only this run's namespaces (default: every run's)")
	timeout := fs.Duration("timeout", 3*time.Minute, "how long to wait for the namespaces to go")
	if err := fs.Parse(args); err != nil {
		return err
	}
	client, err := cf.client()
	if err != nil {
		return err
	}
	if _, err := client.ServerVersion(ctx); err != nil {
		return err
	}
	sel := provision.Selector(*runID)
	left, err := provision.Cleanup(ctx, client.Clientset, sel, *timeout)
	if err != nil {
		return err
	}
	if len(left) > 0 {
		return fmt.Errorf("namespaces still present after %s: %s", *timeout, strings.Join(left, ", "))
	}
	fmt.Fprintf(s.Out, "clean: no namespace labelled %s is left\n", sel)
	return nil
}
