// Package layer is the seam between the runner and the layers. A layer is
// a value: its ID, its checks, the permissions it needs in each mode, what
// it creates (so cleanup and the sweep can find it), and a Run function.
// The runner holds the layers in one list (internal/layers) and knows
// nothing else about any of them, as kind holds []actions.Action.
package layer

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/tenantcheck/tenantcheck/internal/kube"
	"github.com/tenantcheck/tenantcheck/internal/model"
)

// Layer is one control of the isolation stack, as tenantcheck checks it.
type Layer struct {
	ID model.Layer
	// Summary is one line for --layers help and the README.
	Summary string
	// Checks lists every check Run reports, in report order: Run returns
	// exactly one result per check (or per check and pair).
	Checks []model.Check
	// Needs lists the permissions the runner's identity needs for Run in a
	// mode. Preflight checks the union over the selected layers before
	// anything is created.
	Needs func(model.Mode) []kube.Permission
	// Creates lists the kinds Run creates in namespaces the run does not own
	// (an audit's tenant namespaces), always labelled with the run's labels:
	// cleanup and the sweep of crashed runs remove them by label.
	Creates []schema.GroupVersionResource
	// Footprint says, for an audit's opening lines, what Run puts into an
	// audited tenant namespace and for how long ("" for nothing: reads,
	// dry-runs and tokens only).
	Footprint string
	// PlacesPods: the layer runs pods in the tenants' namespaces (an audit's
	// --no-pods leaves it out).
	PlacesPods bool
	// Run checks the layer. A check that cannot run is an Error result,
	// never a missing result or a panic.
	Run func(ctx context.Context, env *Env) Output
}

// Env is what a layer gets from the run.
type Env struct {
	// Client talks to the cluster as the runner; its Kubectl() prefix names
	// the kubeconfig and context for every repro command.
	Client *kube.Client
	// Roster is every namespace of the run with its role.
	Roster model.Roster
	Mode   model.Mode
	RunID  string
	// Labels go on everything a layer creates.
	Labels map[string]string
	Probe  ProbeSettings
	// NoPods: the run places no pod anywhere (audit --no-pods), its own
	// namespaces included.
	NoPods bool
	// FluxLive: an audit runs the Flux layer's live checks (--flux-live).
	FluxLive bool
	// Say reports progress on stderr; never nil.
	Say func(format string, args ...any)
}

// Output is a layer's share of the report.
type Output struct {
	Results  []model.Result
	Matrices []model.Matrix
	// WorkloadPaths: the network layer's open paths to real workloads.
	WorkloadPaths []model.WorkloadPath
	// Pairs: which tenant pairs the network layer probed live.
	Pairs *model.PairCoverage
	// TenantPairs: the layer's verdict per ordered tenant pair it tried.
	TenantPairs []model.PairVerdict
	// EnforcementLatency: the network canary's measure.
	EnforcementLatency time.Duration
	// Phases split the layer's wall time for the report's timings; when
	// empty, the runner records the whole layer under its ID.
	Phases []model.PhaseTiming
}

// ProbeSettings are the run-wide knobs of whatever a layer runs in the
// cluster: the probe image and the timeouts of probes. Zero values take
// the defaults.
type ProbeSettings struct {
	Image         string
	PullPolicy    string
	ClusterDomain string
	ProbeTimeout  time.Duration // one network probe (default 1s)
	Retries       int           // extra rounds for paths that disagree (default 2)
	RetryInterval time.Duration // between those rounds (default 500ms)
	ReadyTimeout  time.Duration // probe pods Ready (default 120s)
	// EnforceBudget bounds the canary's wait for a fresh policy to act.
	EnforceBudget time.Duration
	// MaxShapes bounds the workload shapes per tenant namespace that are
	// judged and mimicked, largest first (default 8, at most 16).
	MaxShapes int
	// Pairs is --pairs as given ("" for the default): which ordered tenant
	// pairs the cross-tenant checks probe live.
	Pairs string
	// PriorityClass of the pods that run in tenant namespaces (probes and
	// mimics); "" for the cluster's default. deploy/ ships one below every
	// tenant's that never preempts.
	PriorityClass string
}

// WithDefaults fills in the zero values.
func (p ProbeSettings) WithDefaults() ProbeSettings {
	if p.ClusterDomain == "" {
		p.ClusterDomain = "cluster.local"
	}
	if p.ProbeTimeout <= 0 {
		p.ProbeTimeout = time.Second
	}
	if p.Retries < 0 {
		p.Retries = 0
	}
	if p.RetryInterval <= 0 {
		p.RetryInterval = 500 * time.Millisecond
	}
	if p.ReadyTimeout <= 0 {
		p.ReadyTimeout = 120 * time.Second
	}
	if p.MaxShapes <= 0 {
		p.MaxShapes = 8
	}
	p.MaxShapes = min(p.MaxShapes, 16)
	if p.PullPolicy == "" {
		p.PullPolicy = "IfNotPresent"
	}
	if p.EnforceBudget <= 0 {
		p.EnforceBudget = 10 * time.Second
	}
	return p
}

// Results gives every check of the list the same judgement: how a layer
// reports that it could not run at all.
func Results(checks []model.Check, j model.Judgement) []model.Result {
	out := make([]model.Result, len(checks))
	for i, c := range checks {
		out[i] = c.Result(j)
	}
	return out
}

// Mode-independent permissions, spelled once.
var (
	ListNamespaces = kube.Permission{Verb: "list", Resource: "namespaces"}
	GetNamespaces  = kube.Permission{Verb: "get", Resource: "namespaces"}
)

// Perms is a helper to write a layer's Needs: the same list in every mode.
func Perms(ps ...kube.Permission) func(model.Mode) []kube.Permission {
	return func(model.Mode) []kube.Permission { return ps }
}

// Kinds is what the layers create in namespaces the run does not own, each
// kind once, in layer order.
func Kinds(ls []Layer) []schema.GroupVersionResource {
	var out []schema.GroupVersionResource
	seen := map[schema.GroupVersionResource]bool{}
	for _, l := range ls {
		for _, k := range l.Creates {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	return out
}

// CleanupNeeds are the permissions that removing the kinds needs: list and
// delete them by label in any namespace (cleanup of an audit, and the sweep
// of crashed runs).
func CleanupNeeds(kinds []schema.GroupVersionResource) []kube.Permission {
	var out []kube.Permission
	for _, k := range kinds {
		for _, verb := range []string{"list", "delete", "deletecollection"} {
			out = append(out, kube.Permission{Verb: verb, Group: k.Group, Resource: k.Resource})
		}
	}
	return out
}
