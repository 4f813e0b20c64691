package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"k8s.io/client-go/dynamic"

	"github.com/tenantcheck/tenantcheck/internal/diff"
	"github.com/tenantcheck/tenantcheck/internal/incluster"
	"github.com/tenantcheck/tenantcheck/internal/kube"
	"github.com/tenantcheck/tenantcheck/internal/layer"
	"github.com/tenantcheck/tenantcheck/internal/layers"
	"github.com/tenantcheck/tenantcheck/internal/model"
)

// inClusterFlags are the knobs of a scheduled run (the CronJob in deploy/).
type inClusterFlags struct {
	lock, reportCM string
	lockWait       time.Duration
	events         bool
	sweep          time.Duration
}

func (f *inClusterFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.lock, "lock", "", "NAMESPACE/NAME of a Lease: a run that finds it held waits --lock-wait, then exits 0 without running")
	fs.DurationVar(&f.lockWait, "lock-wait", 0, "how long to wait for the --lock Lease")
	fs.StringVar(&f.reportCM, "report-configmap", "", "NAMESPACE/NAME of a ConfigMap keeping the latest and previous JSON reports; the run prints the diff against the previous one")
	fs.BoolVar(&f.events, "events", false, "record a Warning Event (reason TenantIsolationBroken) per broken layer on every tenant namespace")
	fs.DurationVar(&f.sweep, "sweep-older-than", 0, "first delete what crashed runs left behind (tenantcheck's namespaces, pods, services) older than this")
}

func splitRef(flagName, ref string) (string, string, error) {
	ns, name, ok := strings.Cut(ref, "/")
	if !ok || ns == "" || name == "" {
		return "", "", fmt.Errorf("--%s %q: want NAMESPACE/NAME", flagName, ref)
	}
	return ns, name, nil
}

func (f *inClusterFlags) validate() error {
	if f.lock != "" {
		if _, _, err := splitRef("lock", f.lock); err != nil {
			return err
		}
	}
	if f.reportCM != "" {
		if _, _, err := splitRef("report-configmap", f.reportCM); err != nil {
			return err
		}
	}
	return nil
}

// needs are the permissions the in-cluster flags need, for preflight: the
// Lease and the report ConfigMap in their namespaces, Events on every
// tenant namespace, and the sweep's list and delete of what runs create.
func (f *inClusterFlags) needs() []kube.Permission {
	var out []kube.Permission
	if f.lock != "" {
		ns, name, _ := splitRef("lock", f.lock)
		for _, v := range []string{"get", "create", "update", "delete"} {
			out = append(out, kube.Permission{Verb: v, Group: "coordination.k8s.io", Resource: "leases", Namespace: ns, Name: named(v, name)})
		}
	}
	if f.reportCM != "" {
		ns, name, _ := splitRef("report-configmap", f.reportCM)
		for _, v := range []string{"get", "create", "update"} {
			out = append(out, kube.Permission{Verb: v, Resource: "configmaps", Namespace: ns, Name: named(v, name)})
		}
	}
	if f.events {
		out = append(out, kube.Permission{Verb: "create", Resource: "events"})
	}
	if f.sweep > 0 {
		out = append(out, layer.ListNamespaces, kube.Permission{Verb: "delete", Resource: "namespaces"})
		for _, p := range layer.CleanupNeeds(layer.Kinds(layers.All())) {
			if p.Verb != "deletecollection" {
				out = append(out, p)
			}
		}
	}
	return out
}

// named is the object's name for a permission check, except for create,
// whose request carries no name for RBAC's resourceNames to match.
func named(verb, name string) string {
	if verb == "create" {
		return ""
	}
	return name
}

// before takes the lock, then sweeps: a run that does not hold the lock
// deletes nothing (it could be sweeping under a run in progress). A nil
// release with a nil error means "another run holds the lock" (said on
// stderr, naming the holder): the caller exits 3 without running.
func (f *inClusterFlags) before(ctx context.Context, s Streams, c *kube.Client, ttl time.Duration) (func(), bool, error) {
	release := func() {}
	if f.lock != "" {
		ns, name, _ := splitRef("lock", f.lock)
		holder, _ := os.Hostname()
		var err error
		release, err = incluster.Lock(ctx, c.Clientset, ns, name, holder, ttl, f.lockWait)
		if errors.Is(err, incluster.ErrLocked) {
			fmt.Fprintf(s.Err, "tenantcheck: %v; not running\n", err)
			return nil, false, nil
		}
		if err != nil {
			return nil, false, err
		}
	}
	if f.sweep > 0 {
		dyn, err := dynamic.NewForConfig(c.Config)
		if err != nil {
			release()
			return nil, false, fmt.Errorf("sweep: %w", err)
		}
		n, err := incluster.Sweep(ctx, c.Clientset, dyn, layer.Kinds(layers.All()), f.sweep)
		if err != nil {
			release()
			return nil, false, err
		}
		fmt.Fprintf(s.Err, "swept %d object(s) left by earlier runs\n", n)
	}
	return release, true, nil
}

// after stores the report, prints the diff against the previous one, and
// records Events; it returns 1 when something regressed.
func (f *inClusterFlags) after(ctx context.Context, s Streams, c *kube.Client, rep *model.Report, tenantNamespaces []string) (int, error) {
	code := 0
	var errs []error
	if f.reportCM != "" {
		ns, name, _ := splitRef("report-configmap", f.reportCM)
		stored, err := incluster.StoreReport(ctx, c.Clientset, ns, name, rep)
		errs = append(errs, err)
		if stored.Note != "" {
			fmt.Fprintf(s.Err, "report configmap %s/%s: %s\n", ns, name, stored.Note)
		}
		if prev := stored.Previous; prev != nil {
			d := diff.Compare(prev, rep)
			fmt.Fprintln(s.Err, "changes since the previous run:")
			errs = append(errs, d.Render(s.Err))
			code = d.ExitCode()
		}
	}
	if f.events {
		errs = append(errs, incluster.EmitBrokenEvents(ctx, c.Clientset, rep, tenantNamespaces))
	}
	return code, errors.Join(errs...)
}
