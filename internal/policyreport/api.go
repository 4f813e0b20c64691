package policyreport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"

	"github.com/tenantcheck/tenantcheck/internal/baseline"
	"github.com/tenantcheck/tenantcheck/internal/kube"
)

// API is one of the two report APIs.
type API struct {
	Name                      string // as --policy-report-api takes it
	Group, Version            string
	Kind, ClusterKind         string
	Resource, ClusterResource string
	// SourceField: OpenReports has a report-level source; the wg-policy
	// API has it on results only.
	SourceField bool
}

// The two APIs, OpenReports first: it is preferred where both are served.
var (
	OpenReports = API{Name: "openreports", Group: "openreports.io", Version: "v1alpha1", Kind: "Report", ClusterKind: "ClusterReport",
		Resource: "reports", ClusterResource: "clusterreports", SourceField: true}
	WGPolicy = API{Name: "wgpolicyk8s", Group: "wgpolicyk8s.io", Version: "v1alpha2", Kind: "PolicyReport", ClusterKind: "ClusterPolicyReport",
		Resource: "policyreports", ClusterResource: "clusterpolicyreports"}
	APIs = []API{OpenReports, WGPolicy}
)

// Name of every report tenantcheck writes, namespaced and cluster: a
// fixed name is what makes a run replace the previous one's.
const Name = "tenantcheck"

// Labels of every report tenantcheck writes; the stale ones are found by them.
var Labels = map[string]string{baseline.LabelManagedBy: baseline.ManagedByTenantcheck, "app.kubernetes.io/name": "tenantcheck"}

const selector = "app.kubernetes.io/managed-by=tenantcheck,app.kubernetes.io/name=tenantcheck"

func (a API) GroupVersion() string { return a.Group + "/" + a.Version }

func (a API) gvr(cluster bool) schema.GroupVersionResource {
	r := a.Resource
	if cluster {
		r = a.ClusterResource
	}
	return schema.GroupVersionResource{Group: a.Group, Version: a.Version, Resource: r}
}

// ErrNotServed: the cluster serves neither report API (or not the one asked for).
var ErrNotServed = errors.New("no policy report API is served")

// Discover picks the API: the one named by force ("openreports",
// "wgpolicyk8s"; "" or "auto" for the first served, OpenReports first).
// It returns ErrNotServed, wrapped with what to install, when none is.
func Discover(d discovery.DiscoveryInterface, force string) (API, error) {
	candidates := APIs
	if force != "" && force != "auto" {
		i := slices.IndexFunc(APIs, func(a API) bool { return a.Name == force })
		if i < 0 {
			return API{}, fmt.Errorf("--policy-report-api %q: want auto, openreports or wgpolicyk8s", force)
		}
		candidates = APIs[i : i+1]
	}
	for _, a := range candidates {
		list, err := d.ServerResourcesForGroupVersion(a.GroupVersion())
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return API{}, kube.Explain(err, "discover "+a.GroupVersion())
		}
		var have []string
		for _, r := range list.APIResources {
			have = append(have, r.Name)
		}
		if slices.Contains(have, a.Resource) && slices.Contains(have, a.ClusterResource) {
			return a, nil
		}
	}
	var names []string
	for _, a := range candidates {
		names = append(names, a.Kind+" ("+a.GroupVersion()+")")
	}
	return API{}, fmt.Errorf("%w: the cluster serves no %s; install the CRDs (OpenReports: github.com/openreports/reports-api config/crd) or leave out --policy-reports", ErrNotServed, joinOr(names))
}

func joinOr(s []string) string {
	if len(s) == 1 {
		return s[0]
	}
	return fmt.Sprintf("%s or %s", s[0], s[1])
}

// Permissions are the verbs Write uses on both resources of the API.
func (a API) Permissions() []kube.Permission {
	var out []kube.Permission
	for _, r := range []string{a.Resource, a.ClusterResource} {
		for _, v := range []string{"get", "list", "create", "patch", "delete"} {
			out = append(out, kube.Permission{Verb: v, Group: a.Group, Resource: r})
		}
	}
	return out
}

// LabelRun carries the run that wrote a report: with the managed-by label
// it is tenantcheck's mark, which the in-cluster runner's admission guard
// (deploy/base/guard.yaml) asks of every object it writes.
const LabelRun = baseline.LabelRun

// Object is d as one object of this API, written by run runID.
func (a API) Object(d Doc, runID string) (*unstructured.Unstructured, error) {
	kind := a.Kind
	if d.Namespace == "" {
		kind = a.ClusterKind
	}
	body := map[string]any{
		"apiVersion": a.GroupVersion(),
		"kind":       kind,
		"metadata":   map[string]any{"name": Name, "labels": labelsAny(runID)},
		"summary":    d.Summary,
		"results":    d.Results,
	}
	if d.Namespace != "" {
		body["metadata"].(map[string]any)["namespace"] = d.Namespace
		body["scope"] = ObjectRef{APIVersion: "v1", Kind: "Namespace", Name: d.Namespace}
	}
	if a.SourceField {
		body["source"] = Source
	}
	// Through JSON, so that the typed fields become plain maps and lists.
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(raw); err != nil {
		return nil, err
	}
	return u, nil
}

func labelsAny(runID string) map[string]any {
	out := map[string]any{LabelRun: runID}
	for k, v := range Labels {
		out[k] = v
	}
	return out
}

// Written says what Write did.
type Written struct {
	Applied int      // reports created or replaced
	Deleted []string // stale reports removed: "namespace/name", or "name" for cluster ones
}

// Write applies every doc (server-side apply, strict field validation: a
// field the served schema lacks is an error, not silently pruned), then
// deletes tenantcheck's reports of namespaces no longer audited, so that
// reports never pile up.
func Write(ctx context.Context, dyn dynamic.Interface, a API, docs []Doc, runID string) (Written, error) {
	var w Written
	keep := map[string]bool{}
	force := true
	opts := metav1.PatchOptions{FieldManager: "tenantcheck", Force: &force, FieldValidation: "Strict"}
	for _, d := range docs {
		u, err := a.Object(d, runID)
		if err != nil {
			return w, err
		}
		var ri dynamic.ResourceInterface = dyn.Resource(a.gvr(d.Namespace == ""))
		what := u.GetKind() + " " + Name
		if d.Namespace != "" {
			ri = dyn.Resource(a.gvr(false)).Namespace(d.Namespace)
			what += " in " + d.Namespace
		}
		body, err := u.MarshalJSON()
		if err != nil {
			return w, err
		}
		if _, err := ri.Patch(ctx, Name, types.ApplyPatchType, body, opts); err != nil {
			return w, kube.Explain(err, "apply "+what)
		}
		w.Applied++
		keep[d.Namespace] = true
	}
	list, err := dyn.Resource(a.gvr(false)).Namespace("").List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return w, kube.Explain(err, "list "+a.Resource+" labelled "+selector)
	}
	for _, item := range list.Items {
		if keep[item.GetNamespace()] && item.GetName() == Name {
			continue
		}
		err := dyn.Resource(a.gvr(false)).Namespace(item.GetNamespace()).Delete(ctx, item.GetName(), metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return w, kube.Explain(err, "delete stale "+a.Kind+" "+item.GetNamespace()+"/"+item.GetName())
		}
		w.Deleted = append(w.Deleted, item.GetNamespace()+"/"+item.GetName())
	}
	return w, nil
}
