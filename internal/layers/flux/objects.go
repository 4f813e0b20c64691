package flux

import (
	"context"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/tenantcheck/tenantcheck/internal/kube"
	"github.com/tenantcheck/tenantcheck/internal/model"
)

// Object is what the checks read of one tenant Kustomization or HelmRelease.
type Object struct {
	Kind, Namespace, Name string
	ServiceAccountName    string
	// SourceRefs are the object's references to sources, with the
	// namespace they resolve to (the object's own when unset).
	SourceRefs []SourceRef
}

// SourceRef is one reference from a Flux object to a source.
type SourceRef struct{ Kind, Name, Namespace string }

func (o Object) String() string { return o.Kind + " " + o.Namespace + "/" + o.Name }

// ObjectCheck judges every tenant Flux object alone; Violation is "" when
// the object complies. Adding a rule is one entry in ObjectChecks.
type ObjectCheck struct {
	model.Check
	Rule      string
	Violation func(o Object) string
}

// ObjectChecks are the rules for tenant objects, in report order.
var ObjectChecks = []ObjectCheck{
	{
		Check: model.Check{ID: "flux/tenant-objects-set-serviceaccountname", Layer: model.LayerFlux,
			Name:        "tenant Kustomizations and HelmReleases set serviceAccountName",
			Description: "every Kustomization and HelmRelease in a tenant namespace names the service account it reconciles as, as the guide asks",
			Expected:    model.ExpectAPI(model.APIForbidden)},
		Rule: "spec.serviceAccountName set",
		Violation: func(o Object) string {
			if o.ServiceAccountName == "" {
				return o.String() + " has no serviceAccountName"
			}
			return ""
		},
	},
	{
		Check: model.Check{ID: "flux/tenant-sources-in-own-namespace", Layer: model.LayerFlux,
			Name:        "tenant objects use sources in their own namespace",
			Description: "no Kustomization or HelmRelease in a tenant namespace references a source in another namespace",
			Expected:    model.ExpectAPI(model.APIForbidden)},
		Rule: "every sourceRef in the object's own namespace",
		Violation: func(o Object) string {
			var bad []string
			for _, r := range o.SourceRefs {
				if r.Namespace != o.Namespace {
					bad = append(bad, fmt.Sprintf("%s %s/%s", r.Kind, r.Namespace, r.Name))
				}
			}
			if len(bad) == 0 {
				return ""
			}
			return o.String() + " references " + strings.Join(bad, ", ")
		},
	},
}

// listObjects reads the Kustomizations and HelmReleases of the tenants'
// namespaces, leaving out those of this run (the live checks' own).
func listObjects(ctx context.Context, e env, crds installed, in Input) ([]Object, []model.Evidence, error) {
	var out []Object
	var ev []model.Evidence
	kinds := []struct {
		kind string
		gvr  *schema.GroupVersionResource
	}{{"Kustomization", crds.kustomization}, {"HelmRelease", crds.helmRelease}}
	for _, t := range in.Tenants {
		for _, ns := range t.Namespaces {
			for _, k := range kinds {
				if k.gvr == nil {
					continue
				}
				list, err := e.dyn.Resource(*k.gvr).Namespace(ns).List(ctx, metav1.ListOptions{})
				if err != nil {
					return nil, nil, kube.Explain(err, fmt.Sprintf("list %s in %s", k.gvr.Resource, ns))
				}
				names := []string{}
				for _, u := range list.Items {
					if in.Labels != nil && isOurs(u.GetLabels(), in.Labels) {
						continue
					}
					out = append(out, readObject(k.kind, &u))
					names = append(names, u.GetName())
				}
				ev = append(ev, model.Evidence{Action: "list " + k.gvr.Resource, To: ns, Attempts: 1,
					Raw:   fmt.Sprintf("%d found: %s", len(names), strings.Join(names, ", ")),
					Repro: fmt.Sprintf("%s get %s.%s -n %s -o yaml", e.repro, k.gvr.Resource, k.gvr.Group, ns)})
			}
		}
	}
	return out, ev, nil
}

func isOurs(labels, ours map[string]string) bool {
	for k, v := range ours {
		if labels[k] != v {
			return false
		}
	}
	return len(ours) > 0
}

// readObject takes what the checks need from a Kustomization (spec.sourceRef)
// or a HelmRelease (spec.chart.spec.sourceRef, spec.chartRef).
func readObject(kind string, u *unstructured.Unstructured) Object {
	o := Object{Kind: kind, Namespace: u.GetNamespace(), Name: u.GetName()}
	o.ServiceAccountName, _, _ = unstructured.NestedString(u.Object, "spec", "serviceAccountName")
	for _, path := range [][]string{{"spec", "sourceRef"}, {"spec", "chart", "spec", "sourceRef"}, {"spec", "chartRef"}} {
		ref, found, _ := unstructured.NestedStringMap(u.Object, path...)
		if !found {
			continue
		}
		ns := ref["namespace"]
		if ns == "" {
			ns = o.Namespace
		}
		o.SourceRefs = append(o.SourceRefs, SourceRef{Kind: ref["kind"], Name: ref["name"], Namespace: ns})
	}
	return o
}

// judge applies one rule to every object. With no object to read the rule
// holds only vacuously, which is not a verdict: it is Skipped with none.
func (c ObjectCheck) judge(objs []Object, ev []model.Evidence, none string) model.Result {
	var bad []string
	for _, o := range objs {
		if v := c.Violation(o); v != "" {
			bad = append(bad, v)
		}
	}
	var j model.Judgement
	switch {
	case len(objs) == 0:
		j = model.Skipped(none)
	case len(bad) > 0:
		j = model.Broken(strings.Join(bad, "; "))
	default:
		j = model.Held(fmt.Sprintf("%d objects, none breaks the rule", len(objs)))
	}
	r := c.Result(j)
	r.Expected = c.Rule
	r.Observed = fmt.Sprintf("%d objects in tenant namespaces, %d break the rule", len(objs), len(bad))
	r.Evidence, r.Attempts = ev, len(ev)
	return r
}

// nothingToInspect is the reason of an object check on tenants without
// Flux objects: the kinds that were looked for, and in provision mode why
// that is expected.
func nothingToInspect(crds installed, mode model.Mode) string {
	kinds := "Kustomization"
	if crds.helmRelease != nil {
		kinds += " or HelmRelease"
	}
	why := "no " + kinds + " in the tenant namespaces to inspect"
	if mode == model.ModeProvision {
		why += " (the run's own tenants start empty; `tenantcheck audit` inspects existing ones)"
	}
	return why
}

func objectResults(ctx context.Context, e env, crds installed, in Input) []model.Result {
	objs, ev, err := listObjects(ctx, e, crds, in)
	var out []model.Result
	for _, c := range ObjectChecks {
		if err != nil {
			out = append(out, c.Result(model.Errored(err.Error())))
			continue
		}
		out = append(out, c.judge(objs, ev, nothingToInspect(crds, in.Mode)))
	}
	return out
}
