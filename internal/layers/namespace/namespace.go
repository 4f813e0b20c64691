// Package namespace is the guide's first layer: a tenant namespace is a
// boundary the API server can enforce only when it says whose it is and what
// it enforces, and tenants' workloads land in their own namespaces rather
// than in `default`. It reads; it creates nothing.
package namespace

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tenantcheck/tenantcheck/internal/baseline"
	"github.com/tenantcheck/tenantcheck/internal/kube"
	"github.com/tenantcheck/tenantcheck/internal/layer"
	"github.com/tenantcheck/tenantcheck/internal/model"
)

// Layer is the namespace layer as the runner holds it.
var Layer = layer.Layer{
	ID:      model.LayerNamespace,
	Summary: "every tenant namespace names its tenant and pins its Pod Security labels; no tenant workload runs in default",
	Checks:  checks(),
	Needs:   layer.Perms(layer.GetNamespaces, kube.Permission{Verb: "list", Resource: "pods", Namespace: DefaultNamespace}),
	Run:     run,
}

// DefaultNamespace is where workloads land when nobody chose a namespace.
const DefaultNamespace = "default"

// checks in report order.
func checks() []model.Check { return []model.Check{tenantLabel, psaLabels, nothingInDefault} }

func check(id, name, desc string) model.Check {
	return model.Check{ID: "namespace/" + id, Layer: model.LayerNamespace, Name: name, Description: desc,
		Expected: model.ExpectAPI(model.APIAdmitted)}
}

var (
	tenantLabel = check("tenant-label", "tenant namespaces name their tenant",
		"every tenant namespace carries the tenant label with its tenant's name (what NetworkPolicy and discovery select on)")
	psaLabels = check("pod-security-labels-pinned", "Pod Security labels set and enforce-version pinned",
		"every tenant namespace carries pod-security.kubernetes.io/enforce, audit and warn with a valid level, and enforce-version pinned to a release (v1.N), not latest")
	nothingInDefault = check("no-tenant-workload-in-default", "no tenant workload runs in default",
		"no pod in the default namespace belongs to a tenant (carries the tenant label, or app.kubernetes.io/part-of, with a tenant's name)")
)

var (
	levels        = []string{"privileged", "baseline", "restricted"}
	pinnedVersion = regexp.MustCompile(`^v1\.[0-9]+$`)
)

func run(ctx context.Context, env *layer.Env) layer.Output {
	c := env.Client
	label := env.Roster.TenantLabel
	if label == "" {
		label = "tenant.platform.example/name"
	}
	members := env.Roster.ByRole(model.RoleTenant)
	nss := map[string]*corev1.Namespace{}
	for _, m := range members {
		ns, err := c.Clientset.CoreV1().Namespaces().Get(ctx, m.Namespace, metav1.GetOptions{})
		if err != nil {
			errored := model.Errored(kube.Explain(err, "read namespace "+m.Namespace).Error())
			return layer.Output{Results: []model.Result{tenantLabel.Result(errored), psaLabels.Result(errored), defaultResult(ctx, env, label)}}
		}
		nss[m.Namespace] = ns
	}
	results := []model.Result{
		perNamespace(c, tenantLabel, members, nss, func(m model.Member, ns *corev1.Namespace) string {
			if got, ok := ns.Labels[label]; !ok {
				return fmt.Sprintf("no label %s", label)
			} else if got != m.Tenant {
				return fmt.Sprintf("%s=%q, but the namespace belongs to tenant %q", label, got, m.Tenant)
			}
			return ""
		}),
		perNamespace(c, psaLabels, members, nss, func(_ model.Member, ns *corev1.Namespace) string {
			return psaFinding(ns.Labels)
		}),
		defaultResult(ctx, env, label),
	}
	env.Say("namespace: %d tenant namespace(s) and %s read", len(members), DefaultNamespace)
	return layer.Output{Results: results}
}

// perNamespace judges every tenant namespace with finding ("" is fine): the
// check is Broken when one namespace has a finding.
func perNamespace(c *kube.Client, chk model.Check, members []model.Member, nss map[string]*corev1.Namespace,
	finding func(model.Member, *corev1.Namespace) string) model.Result {
	var bad, observed []string
	var ev []model.Evidence
	for _, m := range members {
		ns := nss[m.Namespace]
		f := finding(m, ns)
		raw, v := "as expected", model.VerdictHeld
		if f != "" {
			bad = append(bad, m.Namespace+": "+f)
			raw, v = f, model.VerdictBroken
		}
		observed = append(observed, m.Namespace+": "+labelText(ns.Labels))
		ev = append(ev, model.Evidence{Action: "read the namespace's labels", To: m.Namespace, Raw: raw, Attempts: 1, Verdict: v,
			Repro: c.ReproKubectl("get namespace " + m.Namespace + " --show-labels")})
	}
	j := model.Held(fmt.Sprintf("all %d tenant namespaces as expected", len(members)))
	if len(bad) > 0 {
		j = model.Broken(strings.Join(bad, "; "))
	}
	r := chk.Result(j)
	r.Expected, r.Observed, r.Evidence, r.Attempts = chk.Description, strings.Join(observed, "; "), ev, len(members)
	return r
}

// psaFinding says what is wrong with a namespace's Pod Security labels.
func psaFinding(labels map[string]string) string {
	var out []string
	for _, key := range []string{baseline.LabelPSAEnforce, baseline.LabelPSAAudit, baseline.LabelPSAWarn} {
		v, ok := labels[key]
		switch {
		case !ok:
			out = append(out, "no "+key)
		case !slices.Contains(levels, v):
			out = append(out, fmt.Sprintf("%s=%q is not a Pod Security level (privileged, baseline, restricted)", key, v))
		}
	}
	switch v, ok := labels[baseline.LabelPSAEnforceVersion]; {
	case !ok:
		out = append(out, "no "+baseline.LabelPSAEnforceVersion+" (the policy follows every control-plane upgrade)")
	case !pinnedVersion.MatchString(v):
		out = append(out, fmt.Sprintf("%s=%q is not pinned to a release like v1.34", baseline.LabelPSAEnforceVersion, v))
	}
	return strings.Join(out, "; ")
}

// defaultResult lists the pods of `default` that belong to a tenant.
func defaultResult(ctx context.Context, env *layer.Env, label string) model.Result {
	c := env.Client
	repro := c.ReproKubectl(fmt.Sprintf("get pods -n %s -L %s,app.kubernetes.io/part-of", DefaultNamespace, label))
	pods, err := c.Clientset.CoreV1().Pods(DefaultNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nothingInDefault.Result(model.Errored(kube.Explain(err, "list pods in "+DefaultNamespace).Error()))
	}
	tenants := map[string]bool{}
	for _, t := range env.Roster.Tenants() {
		tenants[t.Name] = true
	}
	var found []string
	for _, p := range pods.Items {
		for _, key := range []string{label, "app.kubernetes.io/part-of"} {
			if v := p.Labels[key]; tenants[v] {
				found = append(found, fmt.Sprintf("pod %s (%s=%s)", p.Name, key, v))
				break
			}
		}
	}
	sort.Strings(found)
	j := model.Held(fmt.Sprintf("none of the %d pod(s) in %s belongs to a tenant", len(pods.Items), DefaultNamespace))
	if len(found) > 0 {
		j = model.Broken(fmt.Sprintf("tenant workloads in %s: %s", DefaultNamespace, strings.Join(found, ", ")))
	}
	r := nothingInDefault.Result(j)
	r.Expected = "no pod in " + DefaultNamespace + " names a tenant"
	r.Observed = fmt.Sprintf("%d tenant pod(s) of %d", len(found), len(pods.Items))
	r.Evidence = []model.Evidence{{Action: "list pods in " + DefaultNamespace, To: DefaultNamespace, Raw: r.Observed, Attempts: 1, Repro: repro}}
	r.Attempts = 1
	return r
}

func labelText(labels map[string]string) string {
	var keys []string
	for k := range labels {
		if strings.HasPrefix(k, "pod-security.kubernetes.io/") || strings.Contains(k, "tenant") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		out = append(out, k+"="+labels[k])
	}
	if len(out) == 0 {
		return "no tenant or Pod Security labels"
	}
	return strings.Join(out, ",")
}
