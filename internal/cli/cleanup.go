package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"k8s.io/client-go/dynamic"

	"github.com/tenantcheck/tenantcheck/internal/incluster"
	"github.com/tenantcheck/tenantcheck/internal/layer"
	"github.com/tenantcheck/tenantcheck/internal/layers"
	"github.com/tenantcheck/tenantcheck/internal/provision"
)

// cleanupCmd removes every namespace tenantcheck created (or one run's; a
// namespace someone else labelled as tenantcheck's is left alone),
// and every object a run put in a namespace it does not own (an audit's
// probe pods and Services in real tenants), all found by label, and waits
// until the namespaces are gone.
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
	dyn, err := dynamic.NewForConfig(client.Config)
	if err != nil {
		return fmt.Errorf("cleanup: %w", err)
	}
	n, err := incluster.DeleteObjects(ctx, dyn, layer.Kinds(layers.All()), sel, 0)
	if err != nil {
		return fmt.Errorf("cleanup: %w", err)
	}
	m, err := provision.CleanupMarkedPods(ctx, client.Clientset, sel, *timeout)
	if err != nil {
		return fmt.Errorf("cleanup: %w", err)
	}
	if n+m > 0 {
		fmt.Fprintf(s.Err, "deleted %d object(s) a run left in namespaces it does not own\n", n+m)
	}
	left, err := provision.CleanupRuns(ctx, client.Clientset, *runID, *timeout)
	if err != nil {
		return err
	}
	if len(left) > 0 {
		return fmt.Errorf("namespaces still present after %s: %s", *timeout, strings.Join(left, ", "))
	}
	fmt.Fprintf(s.Out, "clean: no namespace and no object labelled %s is left\n", sel)
	return nil
}
