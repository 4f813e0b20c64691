package flux

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tenantcheck/tenantcheck/internal/kube"
	"github.com/tenantcheck/tenantcheck/internal/model"
)

// The Flux controllers the lockdown flags apply to.
const (
	kustomizeController       = "kustomize-controller"
	helmController            = "helm-controller"
	notificationController    = "notification-controller"
	imageReflectorController  = "image-reflector-controller"
	imageAutomationController = "image-automation-controller"
)

// ControllerCheck is one lockdown flag: the controllers that take it must
// run with it. Adding a flag is one entry in ControllerChecks.
type ControllerCheck struct {
	model.Check
	Flag string
	// Bool flags must be true; the others must be set to a non-empty value.
	Bool bool
	// Controllers take the flag, as Flux's multi-tenancy lockdown patches them.
	Controllers []string
	// Required must be found: without it the check cannot be judged.
	Required string
}

func controllerCheck(id, flag string, isBool bool, why string, controllers ...string) ControllerCheck {
	want := "--" + flag + "=true"
	if !isBool {
		want = "--" + flag + "=<service account>"
	}
	return ControllerCheck{
		Check: model.Check{ID: "flux/controller-lockdown-" + id, Layer: model.LayerFlux, Name: want,
			Description: strings.Join(controllers, ", ") + " run with " + want + ": " + why,
			Expected:    model.ExpectAPI(model.APIForbidden)},
		Flag: flag, Bool: isBool, Controllers: controllers, Required: kustomizeController,
	}
}

// ControllerChecks are the guide's shared-cluster safeguards, in report order.
var ControllerChecks = []ControllerCheck{
	controllerCheck("no-cross-namespace-refs", "no-cross-namespace-refs", true,
		"a tenant's objects cannot reference sources and objects in other namespaces",
		kustomizeController, helmController, notificationController, imageReflectorController, imageAutomationController),
	controllerCheck("no-remote-bases", "no-remote-bases", true,
		"overlays cannot pull bases from outside the tenant's own source", kustomizeController),
	{
		Check: model.Check{ID: "flux/controller-default-service-account", Layer: model.LayerFlux,
			Name:        "--default-service-account=<service account>",
			Description: "kustomize-controller, helm-controller run with --default-service-account: a tenant object without serviceAccountName is impersonated as that account of its own namespace, not run with the controller's rights",
			Expected:    model.ExpectAPI(model.APIForbidden)},
		Flag: "default-service-account", Controllers: []string{kustomizeController, helmController}, Required: kustomizeController,
	},
}

// controller is one Flux controller Deployment and its manager's arguments.
type controller struct {
	name      string // the Flux controller it is, e.g. kustomize-controller
	namespace string
	deploy    string
	container string
	args      []string
}

// Labels Flux's own manifests put on its controllers, and the namespace
// `flux install` and bootstrap put them in.
const (
	partOfLabel      = "app.kubernetes.io/part-of"
	componentLabel   = "app.kubernetes.io/component"
	appLabel         = "app"
	defaultNamespace = "flux-system"
)

// installation is where Flux runs and the controllers found there.
type installation struct {
	// namespaces were searched; byLabel says they hold Deployments labelled
	// app.kubernetes.io/part-of=flux, else flux-system was taken by name.
	namespaces  []string
	byLabel     bool
	controllers []controller
}

// where says what was searched, for a reason that nothing was found.
func (in installation) where() string {
	const how = "by the labels " + componentLabel + " and " + appLabel
	switch {
	case in.byLabel:
		return "searched " + strings.Join(in.namespaces, ", ") + ", where the Deployments labelled " + partOfLabel + "=flux run, " + how
	case len(in.namespaces) > 0:
		return "no Deployment outside the tenants is labelled " + partOfLabel + "=flux; searched " + strings.Join(in.namespaces, ", ") + " " + how
	}
	return "no Deployment outside the tenants is labelled " + partOfLabel + "=flux, and " + defaultNamespace + " is a tenant namespace: nothing searched"
}

// findControllers finds the Flux controllers in the namespaces Flux runs in,
// never in a tenant's: a tenant may name or label its own Deployment
// kustomize-controller, and its flags would then stand in for the real
// controller's. Within those namespaces a controller is known by the labels
// Flux's manifests set: app.kubernetes.io/component=<controller> on the
// Deployment, or app=<controller> on it or on its pods (what its selector
// matches); the local cluster's kustomize-controller (hack/localcluster)
// carries all three, and app.kubernetes.io/part-of=flux.
func findControllers(ctx context.Context, e env, tenants []Tenant) (installation, error) {
	var in installation
	var err error
	in.namespaces, in.byLabel, err = fluxNamespaces(ctx, e, tenants)
	if err != nil {
		return in, err
	}
	known := []string{kustomizeController, helmController, notificationController, imageReflectorController, imageAutomationController}
	for _, ns := range in.namespaces {
		list, err := e.cs.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return in, kube.Explain(err, "list Deployments in "+ns+" to find the Flux controllers")
		}
		for _, d := range list.Items {
			name := whichController(d, known)
			if name == "" {
				continue
			}
			c := managerContainer(d.Spec.Template.Spec.Containers)
			if c == nil {
				continue
			}
			in.controllers = append(in.controllers, controller{name: name, namespace: d.Namespace, deploy: d.Name, container: c.Name,
				args: append(slices.Clone(c.Command), c.Args...)})
		}
	}
	sort.Slice(in.controllers, func(i, j int) bool {
		a, b := in.controllers[i], in.controllers[j]
		return a.namespace+"/"+a.deploy < b.namespace+"/"+b.deploy
	})
	return in, nil
}

// fluxNamespaces are the namespaces outside the tenants' that hold a
// Deployment labelled app.kubernetes.io/part-of=flux, as every Flux
// install labels its controllers; when there is none, flux-system only.
func fluxNamespaces(ctx context.Context, e env, tenants []Tenant) ([]string, bool, error) {
	list, err := e.cs.AppsV1().Deployments("").List(ctx, metav1.ListOptions{LabelSelector: partOfLabel + "=flux"})
	if err != nil {
		return nil, false, kube.Explain(err, "list the Deployments labelled "+partOfLabel+"=flux to find where Flux runs")
	}
	tenant := map[string]bool{}
	for _, t := range tenants {
		for _, ns := range t.Namespaces {
			tenant[ns] = true
		}
	}
	var out []string
	for _, d := range list.Items {
		if !tenant[d.Namespace] && !slices.Contains(out, d.Namespace) {
			out = append(out, d.Namespace)
		}
	}
	switch {
	case len(out) > 0:
		sort.Strings(out)
		return out, true, nil
	case tenant[defaultNamespace]:
		return nil, false, nil
	}
	return []string{defaultNamespace}, false, nil
}

// whichController says which Flux controller a Deployment in Flux's
// namespace is, by its labels only: its name alone proves nothing.
func whichController(d appsv1.Deployment, known []string) string {
	for _, k := range known {
		if d.Labels[componentLabel] == k || d.Labels[appLabel] == k || d.Spec.Template.Labels[appLabel] == k {
			return k
		}
	}
	return ""
}

// managerContainer is the container named manager, as in Flux's manifests,
// else the first one.
func managerContainer(cs []corev1.Container) *corev1.Container {
	for i := range cs {
		if cs[i].Name == "manager" {
			return &cs[i]
		}
	}
	if len(cs) > 0 {
		return &cs[0]
	}
	return nil
}

// FlagValue reads a flag from a container's command line as pflag does:
// --name=value or -name=value; for a non-bool flag also "--name value"; a
// bare bool flag means true; the last occurrence wins.
func FlagValue(args []string, name string, isBool bool) (string, bool) {
	val, set := "", false
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		trimmed := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		if trimmed == a {
			continue // not a flag
		}
		if k, v, ok := strings.Cut(trimmed, "="); ok {
			if k == name {
				val, set = v, true
			}
			continue
		}
		if trimmed != name {
			continue
		}
		switch {
		case isBool:
			val, set = "true", true
		case i+1 < len(args):
			val, set = args[i+1], true
			i++
		}
	}
	return val, set
}

// Satisfied says whether a flag's value gives the lockdown, and how it reads.
func (c ControllerCheck) Satisfied(args []string) (bool, string) {
	v, set := FlagValue(args, c.Flag, c.Bool)
	if !set {
		return false, "--" + c.Flag + " not set"
	}
	if c.Bool {
		b, err := strconv.ParseBool(v)
		return err == nil && b, "--" + c.Flag + "=" + v
	}
	return strings.TrimSpace(v) != "", "--" + c.Flag + "=" + v
}

// judge compares the controllers found with what c asks.
func (c ControllerCheck) judge(found installation, repro string) model.Result {
	var ev []model.Evidence
	var missing, ok, observed []string
	requiredSeen := false
	for _, ctl := range found.controllers {
		if !slices.Contains(c.Controllers, ctl.name) {
			continue
		}
		requiredSeen = requiredSeen || ctl.name == c.Required
		good, reads := c.Satisfied(ctl.args)
		where := ctl.namespace + "/" + ctl.deploy
		observed = append(observed, where+": "+reads)
		if good {
			ok = append(ok, where)
		} else {
			missing = append(missing, where+": "+reads)
		}
		ev = append(ev, model.Evidence{Action: "read the " + ctl.container + " container's args of Deployment " + where,
			To: ctl.namespace, Raw: strings.Join(ctl.args, " "), Attempts: 1,
			Repro: fmt.Sprintf("%s get deploy -n %s %s -o jsonpath='{.spec.template.spec.containers[?(@.name==\"%s\")].args}'", repro, ctl.namespace, ctl.deploy, ctl.container)})
	}
	var j model.Judgement
	switch {
	case len(missing) > 0:
		j = model.Broken(strings.Join(missing, "; "))
	case !requiredSeen:
		j = model.Errored("no " + c.Required + " Deployment found (" + found.where() + ")")
	default:
		j = model.Held("set on " + strings.Join(ok, ", "))
	}
	r := c.Result(j)
	r.Expected = c.Name + " on " + strings.Join(c.Controllers, ", ") + " (those installed)"
	r.Observed = strings.Join(observed, "; ")
	r.Evidence, r.Attempts = ev, len(ev)
	return r
}

func controllerResults(ctx context.Context, e env, tenants []Tenant) []model.Result {
	found, err := findControllers(ctx, e, tenants)
	var out []model.Result
	for _, c := range ControllerChecks {
		if err != nil {
			out = append(out, c.Result(model.Errored(err.Error())))
			continue
		}
		out = append(out, c.judge(found, e.repro))
	}
	return out
}
