// Package runner drives one tenantcheck run through its phases: plan,
// preflight, provision, observe (each layer), compare, report, and cleanup,
// which always runs, on error and on interrupt too.
package runner

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"

	"github.com/tenantcheck/tenantcheck/internal/baseline"
	"github.com/tenantcheck/tenantcheck/internal/kube"
	"github.com/tenantcheck/tenantcheck/internal/layer"
	"github.com/tenantcheck/tenantcheck/internal/layers"
	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/internal/provision"
	"github.com/tenantcheck/tenantcheck/internal/spec"
)

// Options of one run. The zero value runs every layer against the guide's
// baseline tenants.
type Options struct {
	Spec *spec.Spec // nil: the built-in guide baseline
	// Mode: provision (default) creates test tenants; audit tests the spec's
	// existing namespaces and changes none of their policies, quotas or RBAC.
	Mode   model.Mode
	Layers []model.Layer // nil: every layer
	// NoPods: no layer places a pod anywhere (the caller also leaves out
	// the layers that need pods in the tenants).
	NoPods bool
	// FluxLive: an audit also runs the Flux layer's live checks, which put
	// Flux objects into tenant namespaces (provision mode always does).
	FluxLive bool
	Keep     bool // leave the run's namespaces in place (for debugging)
	// Probe: the probe image and the timeouts of what layers run in pods.
	Probe          layer.ProbeSettings
	CleanupTimeout time.Duration
	// ExtraNeeds are permissions the caller needs around the run (the
	// in-cluster flags'): preflight checks them with the layers'.
	ExtraNeeds []kube.Permission
	Version    string
	Progress   io.Writer
	// AfterProvision runs once the test tenants exist and before any probe:
	// live tests use it to break a tenant on purpose.
	AfterProvision func(ctx context.Context, cs kubernetes.Interface, run *Run) error
}

// Run is what one run is working with; AfterProvision hooks see it.
type Run struct {
	ID     string
	Spec   *spec.Spec // with run-unique namespace names
	Labels map[string]string
	// Roster is every namespace of the run with its role, built once from
	// the spec before anything touches the cluster.
	Roster model.Roster
	layers []layer.Layer
	// serverVersion is the API server's, read at preflight.
	serverVersion string
	started       time.Time
	opts          Options
}

// Namespace returns the run-unique name of a namespace of the spec.
func (r *Run) Namespace(specName string) string { return spec.RunNamespace(r.ID, specName) }

func (r *Run) say(format string, args ...any) {
	if r.opts.Progress != nil {
		fmt.Fprintf(r.opts.Progress, "[%5.1fs] %s\n", time.Since(r.started).Seconds(), fmt.Sprintf(format, args...))
	}
}

// Execute runs tenantcheck in provision mode. It returns a report whenever
// the checks ran, and an error when the run could not be done; cleanup
// errors are returned alongside the report.
func Execute(ctx context.Context, c *kube.Client, opts Options) (*model.Report, error) {
	run, err := newRun(opts)
	if err != nil {
		return nil, err
	}
	meta, err := preflight(ctx, c, run)
	if err != nil {
		return nil, err
	}
	var timings []model.PhaseTiming
	phase := func(name string, d time.Duration) {
		timings = append(timings, model.PhaseTiming{Phase: name, Duration: model.Millis(d)})
	}
	report, runErr := func() (*model.Report, error) {
		t := time.Now()
		if err := provisionTenants(ctx, c.Clientset, run); err != nil {
			return nil, err
		}
		phase("provision", time.Since(t))
		if opts.AfterProvision != nil {
			if err := opts.AfterProvision(ctx, c.Clientset, run); err != nil {
				return nil, fmt.Errorf("after-provision hook: %w", err)
			}
		}
		return observe(ctx, c, run, meta, phase)
	}()
	t := time.Now()
	cleanErr := cleanup(c, run)
	phase("cleanup", time.Since(t))
	if report != nil {
		report.Timings = timings
		report.Metadata.End = time.Now()
		if cleanErr != nil {
			report.Metadata.CleanupError = cleanErr.Error()
		}
	}
	if ctx.Err() != nil && runErr == nil {
		runErr = fmt.Errorf("interrupted: %w", ctx.Err())
	}
	return report, errors.Join(runErr, cleanErr)
}

func newRun(opts Options) (*Run, error) {
	s := opts.Spec
	if s == nil {
		s = spec.Default()
	}
	id := runID()
	runSpec := s
	if opts.Mode == "" {
		opts.Mode = model.ModeProvision
	}
	if opts.Mode == model.ModeProvision {
		var err error
		if runSpec, err = s.WithRunSuffix(id); err != nil {
			return nil, err
		}
	}
	opts.Spec = s
	if len(opts.Layers) == 0 {
		opts.Layers = layers.IDs()
	}
	selected, unknown, ok := layers.Select(opts.Layers)
	if !ok {
		return nil, fmt.Errorf("unknown layer %q (available: %s)", unknown, layerList())
	}
	r := &Run{ID: id, Spec: runSpec, Labels: baseline.OwnershipLabels(id), layers: selected, started: time.Now(), opts: opts}
	r.Roster = roster(s, runSpec, id, opts.Mode)
	return r, nil
}

func layerList() string {
	var names []string
	for _, id := range layers.IDs() {
		names = append(names, string(id))
	}
	return strings.Join(names, ", ")
}

// runID is five random lower-case letters and digits: short enough to keep
// namespace names readable, random enough that runs never collide.
func runID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// roster lists the run's namespaces: the tenants' and the shared ones from
// the spec, plus an outsider and a canary of the run's own. orig has the
// spec's names, run the cluster's (with the run's suffix in provision mode).
func roster(orig, run *spec.Spec, id string, mode model.Mode) model.Roster {
	provisioned := mode == model.ModeProvision
	r := model.Roster{TenantLabel: run.TenantLabel, DNSNamespace: run.DNS.Namespace, DNSService: run.DNS.Service}
	for i, t := range run.Tenants {
		if len(t.Users)+len(t.Groups) > 0 {
			if r.People == nil {
				r.People = map[string]model.People{}
			}
			r.People[t.Name] = model.People{Users: slices.Clone(t.Users), Groups: slices.Clone(t.Groups)}
		}
		for k, ns := range t.Namespaces {
			var ps model.PodSecurityExpectation // the zero value is the guide's
			if d := orig.Tenants[i].PodSecurity; d != nil {
				ps = model.PodSecurityExpectation{Level: d.Level, EnforcedBy: slices.Clone(d.EnforcedBy)}
			}
			r.Members = append(r.Members, model.Member{Display: orig.Tenants[i].Namespaces[k], Namespace: ns, Tenant: t.Name,
				Role: model.RoleTenant, Owned: provisioned, PodSecurity: ps, IngressPorts: orig.Tenants[i].NormalizedIngressPorts()})
		}
	}
	for i, sh := range run.Shared {
		r.Members = append(r.Members, model.Member{Display: orig.Shared[i].Namespace, Namespace: sh.Namespace,
			Role: model.RoleShared, AllowedTo: sh.AllowedTo, AllowedFrom: sh.AllowedFrom, Owned: provisioned})
	}
	r.Members = append(r.Members,
		model.Member{Display: "outsider", Namespace: spec.RunNamespace(id, "outsider"), Role: model.RoleOutsider, Owned: true},
		model.Member{Display: "canary", Namespace: spec.RunNamespace(id, "canary"), Role: model.RoleCanary, Owned: true})
	return r
}

func provisionTenants(ctx context.Context, cs kubernetes.Interface, run *Run) error {
	var objs []runtime.Object
	if run.opts.Mode == model.ModeProvision {
		plan, err := baseline.ForSpec(run.Spec, run.Labels, baseline.PSAVersionOf(run.serverVersion))
		if err != nil {
			return fmt.Errorf("build the baseline: %w", err)
		}
		objs = plan.List()
	}
	for _, m := range run.Roster.ByRole(model.RoleOutsider, model.RoleCanary) {
		objs = append([]runtime.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: m.Namespace, Labels: run.Labels}}}, objs...)
	}
	if err := provision.Create(ctx, cs, objs); err != nil {
		return kube.Explain(err, "provision the test tenants")
	}
	// Pods (even dry-run ones) are refused until the namespace's default
	// service account exists: wait for it once, for every layer.
	for _, ns := range run.Roster.Owned() {
		if err := provision.WaitServiceAccount(ctx, cs, ns, time.Minute); err != nil {
			return fmt.Errorf("namespace %s: the default service account never appeared (is kube-controller-manager running?): %w", ns, err)
		}
	}
	if run.opts.Mode == model.ModeProvision {
		run.say("provisioned %d namespaces as the guide's baseline (run %s)", len(run.Roster.Members), run.ID)
	} else {
		run.say("audit of %s (run %s): created only %s", strings.Join(run.Roster.Foreign(), ", "), run.ID, strings.Join(run.Roster.Owned(), ", "))
		for _, l := range run.layers {
			if l.Footprint != "" {
				run.say("%s puts into the audited namespaces: %s", l.ID, l.Footprint)
			}
		}
	}
	return nil
}

func cleanup(c *kube.Client, run *Run) error {
	if run.opts.Keep {
		run.say("--keep: leaving namespaces %s", strings.Join(run.Roster.Namespaces(), ", "))
		return nil
	}
	timeout := run.opts.CleanupTimeout
	if timeout <= 0 {
		timeout = 3 * time.Minute
	}
	// A fresh context: cleanup must run after an interrupt cancelled the run's.
	ctx, cancel := context.WithTimeout(context.Background(), timeout+10*time.Second)
	defer cancel()
	run.say("cleaning up run %s", run.ID)
	objErr := provision.CleanupObjects(ctx, c, run.Roster.Foreign(), provision.Selector(run.ID), createdKinds(run.layers), timeout)
	left, err := provision.CleanupRuns(ctx, c.Clientset, run.ID, timeout)
	err = errors.Join(objErr, err)
	if len(left) > 0 {
		err = errors.Join(err, fmt.Errorf("namespaces still present after %s: %s (remove them with `tenantcheck cleanup --run %s`)", timeout, strings.Join(left, ", "), run.ID))
	}
	if err == nil {
		run.say("cleaned up: no namespace of run %s is left", run.ID)
	}
	return err
}
