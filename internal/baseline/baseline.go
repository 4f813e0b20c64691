package baseline

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/tenantcheck/tenantcheck/internal/spec"
)

// Labels tenantcheck puts on everything it creates, so cleanup can find it.
const (
	LabelManagedBy       = "app.kubernetes.io/managed-by"
	ManagedByTenantcheck = "tenantcheck"
	LabelRun             = "tenantcheck.io/run"
)

// Pod Security Admission namespace labels; the baseline sets all three to
// the restricted level.
const (
	LabelPSAEnforce = "pod-security.kubernetes.io/enforce"
	LabelPSAAudit   = "pod-security.kubernetes.io/audit"
	LabelPSAWarn    = "pod-security.kubernetes.io/warn"
	PSARestricted   = "restricted"
	// LabelPSAEnforceVersion pins the version of the policy enforced.
	LabelPSAEnforceVersion = "pod-security.kubernetes.io/enforce-version"
)

// PSAVersionOf is the Pod Security version to pin for an API server's
// version: "v1.37.2" gives "v1.37"; "" when the version is not vX.Y[.Z].
func PSAVersionOf(serverVersion string) string {
	parts := strings.SplitN(strings.TrimPrefix(serverVersion, "v"), ".", 3)
	if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
		return ""
	}
	minor := strings.TrimRightFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' })
	for _, part := range []string{parts[0], minor} {
		if part == "" || strings.Trim(part, "0123456789") != "" {
			return ""
		}
	}
	return "v" + parts[0] + "." + minor
}

// OwnershipLabels returns the labels that mark an object as created by the
// tenantcheck run runID.
func OwnershipLabels(runID string) map[string]string {
	return map[string]string{LabelManagedBy: ManagedByTenantcheck, LabelRun: runID}
}

// Params is what the baseline of one tenant namespace depends on.
type Params struct {
	// Tenant names the tenant; it is the tenant label's value and prefixes
	// the quota and limit range names.
	Tenant string
	// Namespace is the tenant namespace the objects live in.
	Namespace string
	// TenantLabel is the namespace label key that carries Tenant.
	TenantLabel string
	// DNSNamespace and DNSPodLabels select the cluster DNS pods.
	DNSNamespace string
	DNSPodLabels map[string]string
	// SharedNamespaces may reach the tenant's pods (the ingress exception).
	SharedNamespaces []string
	// SharedServices are the shared namespaces the tenant's pods may reach.
	SharedServices []string
	// Labels are added to every object (ownership labels, run id).
	Labels map[string]string
	// PSAVersion, when set ("v1.37"), pins pod-security.kubernetes.io/
	// enforce-version: tenantcheck's one addition to the guide's namespace,
	// so that a control plane upgrade cannot silently change what the
	// namespace enforces. Empty reproduces the guide exactly.
	PSAVersion string
}

// Objects is the baseline of one tenant namespace, as the guide writes it.
type Objects struct {
	Namespace       *corev1.Namespace
	ResourceQuota   *corev1.ResourceQuota
	LimitRange      *corev1.LimitRange
	NetworkPolicies []*networkingv1.NetworkPolicy
	ServiceAccount  *corev1.ServiceAccount
	Role            *rbacv1.Role
	RoleBinding     *rbacv1.RoleBinding
}

// ForTenant builds the baseline of one tenant namespace.
func ForTenant(p Params) (*Objects, error) {
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("baseline for %s/%s: %w", p.Tenant, p.Namespace, err)
	}
	return &Objects{
		Namespace:       tenantNamespace(p),
		ResourceQuota:   resourceQuota(p),
		LimitRange:      limitRange(p),
		NetworkPolicies: networkPolicies(p),
		ServiceAccount:  serviceAccount(p),
		Role:            role(p),
		RoleBinding:     roleBinding(p),
	}, nil
}

// List returns the objects in apply order: the namespace first, then what
// lives in it. Delete in reverse order, or simply delete the namespace.
func (o *Objects) List() []runtime.Object {
	out := []runtime.Object{o.Namespace, o.ResourceQuota, o.LimitRange}
	for _, np := range o.NetworkPolicies {
		out = append(out, np)
	}
	return append(out, o.ServiceAccount, o.Role, o.RoleBinding)
}

// Plan is the baseline of a whole spec: the shared namespaces and every
// tenant namespace.
type Plan struct {
	Shared  []*corev1.Namespace
	Tenants []*Objects
}

// ForSpec builds the baseline of every namespace in s, adding labels to
// every object.
func ForSpec(s *spec.Spec, labels map[string]string, psaVersion string) (*Plan, error) {
	plan := &Plan{}
	for _, sh := range s.Shared {
		plan.Shared = append(plan.Shared, SharedNamespace(sh.Namespace, labels))
	}
	for _, t := range s.Tenants {
		for _, ns := range t.Namespaces {
			objs, err := ForTenant(Params{
				PSAVersion:       psaVersion,
				Tenant:           t.Name,
				Namespace:        ns,
				TenantLabel:      s.TenantLabel,
				DNSNamespace:     s.DNS.Namespace,
				DNSPodLabels:     s.DNS.PodLabels,
				SharedNamespaces: s.SharedFor(t.Name),
				SharedServices:   s.SharedServicesOf(t.Name),
				Labels:           labels,
			})
			if err != nil {
				return nil, err
			}
			plan.Tenants = append(plan.Tenants, objs)
		}
	}
	return plan, nil
}

// List returns every object of the plan in apply order: shared namespaces,
// then each tenant namespace's objects.
func (p *Plan) List() []runtime.Object {
	var out []runtime.Object
	for _, ns := range p.Shared {
		out = append(out, ns)
	}
	for _, t := range p.Tenants {
		out = append(out, t.List()...)
	}
	return out
}

// SharedNamespace is a shared namespace as provision mode creates it. The
// guide prescribes nothing for it beyond existing; the API server adds the
// kubernetes.io/metadata.name label the tenants' policies select on.
func SharedNamespace(name string, labels map[string]string) *corev1.Namespace {
	return &corev1.Namespace{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: objectMeta(name, "", labels),
	}
}

func (p Params) validate() error {
	var errs []error
	for _, n := range [][2]string{{"tenant", p.Tenant}, {"namespace", p.Namespace}, {"dns namespace", p.DNSNamespace}} {
		if msgs := validation.IsDNS1123Label(n[1]); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("%s %q: %s", n[0], n[1], strings.Join(msgs, "; ")))
		}
	}
	for _, ns := range append(slices.Clone(p.SharedNamespaces), p.SharedServices...) {
		if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("shared namespace %q: %s", ns, strings.Join(msgs, "; ")))
		}
	}
	if len(p.DNSPodLabels) == 0 {
		errs = append(errs, errors.New("no dns pod labels"))
	}
	errs = append(errs, checkLabels("dns pod label", p.DNSPodLabels))
	errs = append(errs, checkLabels("label", p.Labels))
	errs = append(errs, checkLabels("tenant label", map[string]string{p.TenantLabel: p.Tenant}))
	for k := range namespaceLabels(p) {
		if _, clash := p.Labels[k]; clash {
			errs = append(errs, fmt.Errorf("label %q is set by the baseline and cannot be overridden", k))
		}
	}
	return errors.Join(errs...)
}

func checkLabels(what string, labels map[string]string) error {
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		msgs := append(content.IsLabelKey(k), content.IsLabelValue(labels[k])...)
		if len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("%s %s=%s: %s", what, k, labels[k], strings.Join(msgs, "; ")))
		}
	}
	return errors.Join(errs...)
}

// objectMeta returns metadata carrying a private copy of labels (nil when
// there are none, so generated objects equal decoded manifests).
func objectMeta(name, namespace string, labels map[string]string) metav1.ObjectMeta {
	m := metav1.ObjectMeta{Name: name, Namespace: namespace}
	if len(labels) > 0 {
		m.Labels = maps.Clone(labels)
	}
	return m
}
