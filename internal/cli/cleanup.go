package cli

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/client-go/dynamic"

	"github.com/tenantcheck/tenantcheck/internal/incluster"
	"github.com/tenantcheck/tenantcheck/internal/layer"
	"github.com/tenantcheck/tenantcheck/internal/layers"
	"github.com/tenantcheck/tenantcheck/internal/provision"
)

// cleanupCmd removes what runs left: their namespaces (named tc-<run>-…
// and labelled with the run; a namespace someone else labelled as
// tenantcheck's is left alone), every object a run put in a namespace it
// does not own (found by label), and its mimic pods (found by annotation),
// then waits until they are gone. Without --run it leaves alone every run
// younger than --older-than: it may be in progress. --dry-run lists what
// would go and deletes nothing (each delete is checked by the API server).
func cleanupCmd(ctx context.Context, s Streams, args []string) error {
	fs := flag.NewFlagSet("cleanup", flag.ContinueOnError)
	fs.SetOutput(s.Err)
	var cf clusterFlags
	cf.register(fs)
	runID := fs.String("run", "", "only this run's namespaces and objects, whatever their age (default: every run's older than --older-than)")
	olderThan := fs.Duration("older-than", 15*time.Minute, "without --run, leave alone the runs younger than this: they may be in progress (a run's --timeout is 10m by default); 0: every run")
	dryRun := fs.Bool("dry-run", false, "list what would be deleted and delete nothing")
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
	minAge := *olderThan
	if *runID != "" {
		minAge = 0
	}
	runs, err := provision.Runs(ctx, client.Clientset, *runID)
	if err != nil {
		return fmt.Errorf("cleanup: %w", err)
	}
	var gone, young []string
	for _, r := range runs {
		if r.Age < minAge {
			young = append(young, fmt.Sprintf("run %s (%s old: %s)", r.Run, r.Age.Round(time.Second), strings.Join(r.Namespaces, ", ")))
			continue
		}
		gone = append(gone, r.Run)
	}
	sel := provision.Selector(*runID)
	dyn, err := dynamic.NewForConfig(client.Config)
	if err != nil {
		return fmt.Errorf("cleanup: %w", err)
	}
	objects, err := incluster.DeleteObjectsNamed(ctx, dyn, layer.Kinds(layers.All()), sel, minAge, *dryRun)
	if err != nil {
		return fmt.Errorf("cleanup: %w", err)
	}
	pods, err := provision.CleanupMarkedPodsNamed(ctx, client.Clientset, sel, minAge, *dryRun, *timeout)
	if err != nil {
		return fmt.Errorf("cleanup: %w", err)
	}
	objects = append(objects, pods...)
	left, err := provision.CleanupRunNamespaces(ctx, client.Clientset, gone, *dryRun, *timeout)
	if err != nil {
		return err
	}
	if len(young) > 0 {
		fmt.Fprintf(s.Err, "left alone, younger than --older-than %s (it may be in progress; name it with --run to remove it now): %s\n", minAge, strings.Join(young, "; "))
	}
	if *dryRun {
		for _, r := range runs {
			if slices.Contains(gone, r.Run) {
				fmt.Fprintf(s.Out, "would delete run %s: namespaces %s\n", r.Run, strings.Join(r.Namespaces, ", "))
			}
		}
		for _, o := range objects {
			fmt.Fprintf(s.Out, "would delete %s\n", o)
		}
		fmt.Fprintf(s.Out, "dry run: %d run(s) and %d object(s) in other namespaces would be deleted; nothing was\n", len(gone), len(objects))
		return nil
	}
	if len(objects) > 0 {
		fmt.Fprintf(s.Err, "deleted %d object(s) a run left in namespaces it does not own\n", len(objects))
	}
	if len(left) > 0 {
		return fmt.Errorf("namespaces still present after %s: %s", *timeout, strings.Join(left, ", "))
	}
	what := "labelled " + sel
	if minAge > 0 {
		what += " and older than " + minAge.String()
	}
	fmt.Fprintf(s.Out, "clean: no namespace and no object %s is left\n", what)
	return nil
}
