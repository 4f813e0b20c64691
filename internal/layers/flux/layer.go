package flux

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/tenantcheck/tenantcheck/internal/kube"
	"github.com/tenantcheck/tenantcheck/internal/layer"
	"github.com/tenantcheck/tenantcheck/internal/model"
)

// NotInstalled is the reason of every check on a cluster without Flux.
const NotInstalled = "Flux is not installed"

// DefaultWait bounds the wait for one Kustomization's verdict.
const DefaultWait = 60 * time.Second

// Tenant is one tenant and its (run-unique) namespaces.
type Tenant = model.TenantRef

// Layer is the Flux layer as the runner holds it.
var Layer = layer.Layer{
	ID:      model.LayerFlux,
	Summary: "reads the Flux controllers' lockdown flags and the tenants' objects; the real kustomize-controller answers Kustomizations aimed across tenants",
	Checks:  checks(),
	Needs: func(mode model.Mode) []kube.Permission {
		if mode == model.ModeAudit { // live checks: opt-in, see LivePermissions
			return append([]kube.Permission(nil), staticPermissions...)
		}
		return append(append([]kube.Permission(nil), staticPermissions...), LivePermissions...)
	},
	Creates: []schema.GroupVersionResource{
		{Group: kustomizationsGR.Group, Version: "v1", Resource: kustomizationsGR.Resource},
		{Group: externalArtifactsGR.Group, Version: "v1", Resource: externalArtifactsGR.Resource},
	},
	Footprint: "only with --flux-live, where Flux runs: an ExternalArtifact in each of two tenants and three Kustomizations in one (labelled with the run, deleted at its end), which the real kustomize-controller reconciles",
	Run:       runLayer,
}

// staticPermissions: detect Flux by its CRDs, read the controllers' args and
// the tenants' objects.
var staticPermissions = []kube.Permission{
	{Verb: "get", Group: "apiextensions.k8s.io", Resource: "customresourcedefinitions", Name: "kustomizations.kustomize.toolkit.fluxcd.io"},
	{Verb: "get", Group: "apiextensions.k8s.io", Resource: "customresourcedefinitions", Name: "helmreleases.helm.toolkit.fluxcd.io"},
	{Verb: "get", Group: "apiextensions.k8s.io", Resource: "customresourcedefinitions", Name: "externalartifacts.source.toolkit.fluxcd.io"},
	{Verb: "list", Group: "apps", Resource: "deployments"},
	{Verb: "list", Group: "helm.toolkit.fluxcd.io", Resource: "helmreleases"},
	{Verb: "list", Group: "kustomize.toolkit.fluxcd.io", Resource: "kustomizations"},
}

// LivePermissions are the live checks': three Kustomizations in one tenant,
// an ExternalArtifact (whose status carries the artifact) in each of two,
// and the artifact server (a pod and its ConfigMap) in the run's outsider.
// A provision run always has them; an audit only with --flux-live, which
// adds them to what the preflight checks.
var LivePermissions = []kube.Permission{
	{Verb: "get", Group: "kustomize.toolkit.fluxcd.io", Resource: "kustomizations"},
	{Verb: "list", Group: "kustomize.toolkit.fluxcd.io", Resource: "kustomizations"},
	{Verb: "create", Group: "kustomize.toolkit.fluxcd.io", Resource: "kustomizations"},
	{Verb: "patch", Group: "kustomize.toolkit.fluxcd.io", Resource: "kustomizations"},
	{Verb: "delete", Group: "kustomize.toolkit.fluxcd.io", Resource: "kustomizations"},
	{Verb: "get", Group: "source.toolkit.fluxcd.io", Resource: "externalartifacts"},
	{Verb: "create", Group: "source.toolkit.fluxcd.io", Resource: "externalartifacts"},
	{Verb: "delete", Group: "source.toolkit.fluxcd.io", Resource: "externalartifacts"},
	{Verb: "update", Group: "source.toolkit.fluxcd.io", Resource: "externalartifacts", Subresource: "status"},
	{Verb: "get", Resource: "configmaps"},
	{Verb: "create", Resource: "configmaps"},
	{Verb: "delete", Resource: "configmaps"},
	{Verb: "create", Resource: "pods"},
	{Verb: "get", Resource: "pods"},
	{Verb: "delete", Resource: "pods"},
	{Verb: "get", Resource: "serviceaccounts"},
}

// Input of the Flux layer.
type Input struct {
	// Tenants are read by the static checks; the live checks act from the
	// first namespace of one tenant against that of another (see pair).
	Tenants []Tenant
	// Mode says whether the tenants are the run's own (and so start empty).
	Mode model.Mode
	// Outsider is a namespace the run owns; the artifact server runs there.
	Outsider   string
	Image      string
	PullPolicy corev1.PullPolicy
	// Labels go on everything the layer creates.
	Labels map[string]string
	// NoPods: the live checks, which need an artifact-server pod, are
	// Skipped.
	NoPods bool
	// Live: run the live checks (always in provision mode; an audit's
	// --flux-live). Without it they are Skipped.
	Live bool
	// Wait bounds the wait for each Kustomization's verdict (0: DefaultWait).
	Wait time.Duration
	// Rotation picks the pair of the live checks among more than two
	// tenants (see pair); the runner passes the hours since the epoch.
	Rotation int64
	Say      func(format string, args ...any)
}

func runLayer(ctx context.Context, le *layer.Env) layer.Output {
	start := time.Now()
	outsider, _ := le.Roster.First(model.RoleOutsider)
	in := Input{
		Tenants: le.Roster.Tenants(), Mode: le.Mode, Outsider: outsider.Namespace,
		Image: le.Probe.Image, PullPolicy: corev1.PullPolicy(le.Probe.PullPolicy), Labels: le.Labels, Say: le.Say, NoPods: le.NoPods,
		Live: le.Mode == model.ModeProvision || le.FluxLive, Rotation: start.Unix() / 3600,
	}
	results := Run(ctx, le.Client, in)
	le.Say("flux: layer checked in %.1fs", time.Since(start).Seconds())
	return layer.Output{Results: results, TenantPairs: livePair(in, results)}
}

// livePair is the layer's column of the tenant x tenant summary: the pair
// the live checks ran between, with the worst of their verdicts; none when
// they did not run.
func livePair(in Input, results []model.Result) []model.PairVerdict {
	p, ok := pair(in.Tenants, in.Rotation)
	if !ok {
		return nil
	}
	tally := model.NewPairTally(model.LayerFlux)
	for _, r := range results {
		for _, c := range LiveChecks {
			if r.CheckID == c.ID && r.Verdict != model.VerdictSkipped {
				tally.Add(p.TenantA, p.TenantB, r.Verdict)
			}
		}
	}
	return tally.Verdicts()
}

// env is what the layer talks to; unit tests fill it with fakes.
type env struct {
	cs    kubernetes.Interface
	dyn   dynamic.Interface
	repro string // "kubectl [--kubeconfig F] [--context C]"
}

// Run checks the Flux layer and returns one result per check, in the order
// of CheckIDs; a check that cannot run is an Error result, never a panic or
// a missing result.
func Run(ctx context.Context, c *kube.Client, in Input) []model.Result {
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		return all(model.Errored("dynamic client: " + err.Error()))
	}
	return run(ctx, env{cs: c.Clientset, dyn: dyn, repro: c.Kubectl()}, in)
}

func run(ctx context.Context, e env, in Input) []model.Result {
	if in.Say == nil {
		in.Say = func(string, ...any) {}
	}
	crds, err := detect(ctx, e.dyn)
	if err != nil {
		return all(model.Errored(err.Error()))
	}
	if crds.kustomization == nil {
		return all(model.Skipped(NotInstalled))
	}
	results := controllerResults(ctx, e, in.Tenants)
	results = append(results, objectResults(ctx, e, crds, in)...)
	return append(results, liveResults(ctx, e, crds, in)...)
}

// CheckIDs lists the ID of every result Run returns, in report order.
func CheckIDs() []string {
	var out []string
	for _, c := range checks() {
		out = append(out, c.ID)
	}
	return out
}

func checks() []model.Check {
	var out []model.Check
	for _, c := range ControllerChecks {
		out = append(out, c.Check)
	}
	for _, c := range ObjectChecks {
		out = append(out, c.Check)
	}
	for _, c := range LiveChecks {
		out = append(out, c.Check)
	}
	return out
}

func all(j model.Judgement) []model.Result {
	var out []model.Result
	for _, c := range checks() {
		out = append(out, c.Result(j))
	}
	return out
}

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// Flux's kinds the layer reads or writes; the version is the CRD's storage
// version, so older Flux releases are read too.
var (
	kustomizationsGR    = schema.GroupResource{Group: "kustomize.toolkit.fluxcd.io", Resource: "kustomizations"}
	helmReleasesGR      = schema.GroupResource{Group: "helm.toolkit.fluxcd.io", Resource: "helmreleases"}
	externalArtifactsGR = schema.GroupResource{Group: "source.toolkit.fluxcd.io", Resource: "externalartifacts"}
)

// installed are the Flux kinds whose CRD exists; nil when it does not.
type installed struct {
	kustomization, helmRelease, externalArtifact *schema.GroupVersionResource
}

// detect says which Flux CRDs exist. Flux counts as installed when the
// Kustomization CRD exists; an API error (not a 404) is an error.
func detect(ctx context.Context, dyn dynamic.Interface) (installed, error) {
	var out installed
	for _, k := range []struct {
		gr  schema.GroupResource
		dst **schema.GroupVersionResource
	}{{kustomizationsGR, &out.kustomization}, {helmReleasesGR, &out.helmRelease}, {externalArtifactsGR, &out.externalArtifact}} {
		crd, err := dyn.Resource(crdGVR).Get(ctx, k.gr.String(), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return out, kube.Explain(err, "detect Flux: read CRD "+k.gr.String())
		}
		v, err := storageVersion(crd)
		if err != nil {
			return out, err
		}
		gvr := k.gr.WithVersion(v)
		*k.dst = &gvr
	}
	return out, nil
}

func storageVersion(crd *unstructured.Unstructured) (string, error) {
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	for _, v := range versions {
		m, _ := v.(map[string]any)
		if storage, _ := m["storage"].(bool); storage {
			if name, _ := m["name"].(string); name != "" {
				return name, nil
			}
		}
	}
	return "", fmt.Errorf("CRD %s has no storage version", crd.GetName())
}
