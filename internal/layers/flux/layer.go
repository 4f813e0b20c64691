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
	"github.com/tenantcheck/tenantcheck/internal/model"
)

// NotInstalled is the reason of every check on a cluster without Flux.
const NotInstalled = "Flux is not installed"

// DefaultWait bounds the wait for one Kustomization's verdict.
const DefaultWait = 60 * time.Second

// Tenant is one tenant and its (run-unique) namespaces.
type Tenant struct {
	Name       string
	Namespaces []string
}

// Input of the Flux layer.
type Input struct {
	// Tenants are read by the static checks; the live checks act from the
	// first namespace of the first tenant against that of the second.
	Tenants []Tenant
	// Outsider is a namespace the run owns; the artifact server runs there.
	Outsider   string
	Image      string
	PullPolicy corev1.PullPolicy
	// Labels go on everything the layer creates.
	Labels map[string]string
	// Wait bounds the wait for each Kustomization's verdict (0: DefaultWait).
	Wait time.Duration
	Say  func(format string, args ...any)
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
	return run(ctx, env{cs: c.Clientset, dyn: dyn, repro: reproPrefix(c)}, in)
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
	results := controllerResults(ctx, e)
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

// reproPrefix is kubectl with the run's kubeconfig and context.
func reproPrefix(c *kube.Client) string {
	p := "kubectl"
	if c == nil {
		return p
	}
	if c.Kubeconfig != "" {
		p += " --kubeconfig " + c.Kubeconfig
	}
	if c.Context != "" && c.Context != "in-cluster" {
		p += " --context " + c.Context
	}
	return p
}
