package rbac

import (
	"context"
	"fmt"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tenantcheck/tenantcheck/internal/kube"
	"github.com/tenantcheck/tenantcheck/internal/model"
)

// bindingsCheck reads what the requests above can only sample: every
// binding of the cluster, for one that hands a tenant more than its own
// namespaces, or hands everyone something.
var bindingsCheck = model.Check{
	ID: "rbac/no-broad-bindings", Layer: model.LayerRBAC, Name: "no broad or cross-tenant bindings",
	Description: "no ClusterRoleBinding grants a tenant's service accounts (or every service account or user) a role, " +
		"and no RoleBinding outside a tenant's namespaces grants that tenant's service accounts one",
	Expected: model.ExpectAPI(model.APIForbidden),
}

// broadGroups are the groups every tenant identity (or everyone) is in.
var broadGroups = map[string]bool{
	"system:serviceaccounts": true,
	"system:authenticated":   true,
	"system:unauthenticated": true,
}

const (
	saGroupPrefix = "system:serviceaccounts:"
	saUserPrefix  = "system:serviceaccount:"
)

// everyonesRoles are the built-in ClusterRoles Kubernetes itself binds to
// every identity (discovery, self-review, the public info): binding them to
// a broad group is no finding. Any other role, system:-named or not, is.
var everyonesRoles = map[string]bool{
	"system:basic-user":                       true,
	"system:cluster-trust-bundle-discovery":   true, // 1.33+: every account reads ClusterTrustBundles
	"system:discovery":                        true,
	"system:public-info-viewer":               true,
	"system:service-account-issuer-discovery": true,
}

// finding is one binding that grants too much.
type finding struct {
	Kind, Namespace, Name string // the binding
	Role                  string // "ClusterRole view"
	Subject               string // "ServiceAccount tenant-a-prod/tenant-reconciler"
	Why                   string
}

func (f finding) String() string {
	where := f.Kind + " " + f.Name
	if f.Namespace != "" {
		where = f.Kind + " " + f.Namespace + "/" + f.Name
	}
	return fmt.Sprintf("%s binds %s to %s: %s", where, f.Subject, f.Role, f.Why)
}

func (f finding) repro(prefix string) string {
	if f.Namespace == "" {
		return fmt.Sprintf("%s get %s %s -o yaml", prefix, strings.ToLower(f.Kind), f.Name)
	}
	return fmt.Sprintf("%s get %s %s -n %s -o yaml", prefix, strings.ToLower(f.Kind), f.Name, f.Namespace)
}

// scanBindings lists every ClusterRoleBinding and RoleBinding with the
// runner's own credentials and judges them with findings; prefix starts
// the repro commands ("kubectl --context ...").
func scanBindings(ctx context.Context, cs kubernetes.Interface, tenants []Tenant, prefix string) model.Result {
	crbs, err := cs.RbacV1().ClusterRoleBindings().List(ctx, metav1.ListOptions{})
	if err != nil {
		return bindingsCheck.Result(model.Errored(listError("clusterrolebindings.rbac.authorization.k8s.io", err)))
	}
	rbs, err := cs.RbacV1().RoleBindings("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return bindingsCheck.Result(model.Errored(listError("rolebindings.rbac.authorization.k8s.io in all namespaces", err)))
	}
	return judgeBindings(findings(crbs.Items, rbs.Items, tenants), len(crbs.Items), len(rbs.Items), prefix)
}

func listError(what string, err error) string {
	if apierrors.IsForbidden(err) {
		return "the runner may not list " + what + ": " + kube.StatusLine(err)
	}
	return fmt.Sprintf("list %s: %s", what, kube.StatusLine(err))
}

func judgeBindings(found []finding, nCRB, nRB int, prefix string) model.Result {
	read := fmt.Sprintf("read %d ClusterRoleBindings and %d RoleBindings", nCRB, nRB)
	if len(found) == 0 {
		r := bindingsCheck.Result(model.Held("no binding grants a tenant beyond its namespaces (" + read + ")"))
		r.Evidence = []model.Evidence{{Action: "list ClusterRoleBindings and RoleBindings in all namespaces",
			To: clusterScope, Raw: read, Attempts: 2,
			Repro: prefix + " get clusterrolebindings,rolebindings --all-namespaces -o wide"}}
		r.Expected, r.Observed, r.Attempts = "no broad or cross-tenant binding", "none found", 2
		return r
	}
	var lines []string
	var ev []model.Evidence
	for _, f := range found {
		lines = append(lines, f.String())
		ev = append(ev, model.Evidence{Action: "read " + f.Kind + " " + f.Name, To: orCluster(f.Namespace),
			Raw: f.String(), Attempts: 1, Repro: f.repro(prefix)})
	}
	r := bindingsCheck.Result(model.Broken(strings.Join(lines, "; ")))
	r.Evidence, r.Attempts = ev, 2
	r.Expected = "no broad or cross-tenant binding"
	r.Observed = fmt.Sprintf("%d found (%s)", len(found), read)
	return r
}

func orCluster(ns string) string {
	if ns == "" {
		return clusterScope
	}
	return ns
}

// findings is pure: the bindings that grant a tenant more than its own
// namespaces, or grant every identity something.
//
//   - A ClusterRoleBinding, whatever its name (a "system:" name is easy to
//     borrow), is a finding when a subject is a tenant's (its
//     ServiceAccount, its namespace's service-account group, or its account
//     named as a User), or when a subject is a broad group bound to a
//     ClusterRole other than the few Kubernetes binds to everyone.
//   - A RoleBinding is a finding when it lives outside a tenant's
//     namespaces and a subject is that tenant's, or when it lives in a
//     tenant's namespace and a subject is a broad group: that opens the
//     namespace to every other tenant.
func findings(crbs []rbacv1.ClusterRoleBinding, rbs []rbacv1.RoleBinding, tenants []Tenant) []finding {
	owner := map[string]string{}
	for _, t := range tenants {
		for _, ns := range t.Namespaces {
			owner[ns] = t.Name
		}
		// Users and groups are kept apart from namespaces by a prefix no
		// namespace name can have.
		for _, u := range t.Users {
			owner["User/"+u] = t.Name
		}
		for _, g := range t.Groups {
			owner["Group/"+g] = t.Name
		}
	}
	var out []finding
	for _, b := range crbs {
		out = append(out, crbFindings(b, owner)...)
	}
	for _, b := range rbs {
		out = append(out, rbFindings(b, owner)...)
	}
	return out
}

func crbFindings(b rbacv1.ClusterRoleBinding, owner map[string]string) []finding {
	var out []finding
	role := b.RoleRef.Kind + " " + b.RoleRef.Name
	for _, s := range b.Subjects {
		f := finding{Kind: "ClusterRoleBinding", Name: b.Name, Role: role, Subject: describeSubject(s, "")}
		if tenant := subjectTenant(s, "", owner); tenant != "" {
			f.Why = "tenant " + tenant + "'s identity holds it in every namespace"
			out = append(out, f)
		} else if isBroad(s) && !(b.RoleRef.Kind == "ClusterRole" && everyonesRoles[b.RoleRef.Name]) {
			f.Why = "every tenant identity holds it in every namespace"
			out = append(out, f)
		}
	}
	return out
}

func rbFindings(b rbacv1.RoleBinding, owner map[string]string) []finding {
	var out []finding
	role := b.RoleRef.Kind + " " + b.RoleRef.Name
	for _, s := range b.Subjects {
		f := finding{Kind: "RoleBinding", Namespace: b.Namespace, Name: b.Name, Role: role,
			Subject: describeSubject(s, b.Namespace)}
		tenant := subjectTenant(s, b.Namespace, owner)
		switch {
		case tenant != "" && tenant != owner[b.Namespace]:
			f.Why = "tenant " + tenant + "'s identity holds it in " + describeNamespace(b.Namespace, owner)
			out = append(out, f)
		case isBroad(s) && owner[b.Namespace] != "":
			f.Why = "every identity holds it in " + describeNamespace(b.Namespace, owner)
			out = append(out, f)
		}
	}
	return out
}

func describeNamespace(ns string, owner map[string]string) string {
	if t := owner[ns]; t != "" {
		return "tenant " + t + "'s namespace " + ns
	}
	return "namespace " + ns
}

// subjectTenant names the tenant a subject belongs to, or "". bindingNS is
// the namespace of a RoleBinding, where a ServiceAccount subject may leave
// its namespace out; it is "" for a ClusterRoleBinding.
func subjectTenant(s rbacv1.Subject, bindingNS string, owner map[string]string) string {
	switch s.Kind {
	case rbacv1.ServiceAccountKind:
		ns := s.Namespace
		if ns == "" {
			ns = bindingNS
		}
		return owner[ns]
	case rbacv1.GroupKind:
		if ns, ok := strings.CutPrefix(s.Name, saGroupPrefix); ok {
			return owner[ns]
		}
		return owner["Group/"+s.Name]
	case rbacv1.UserKind:
		if rest, ok := strings.CutPrefix(s.Name, saUserPrefix); ok {
			ns, _, _ := strings.Cut(rest, ":")
			return owner[ns]
		}
		return owner["User/"+s.Name]
	}
	return ""
}

func isBroad(s rbacv1.Subject) bool {
	return (s.Kind == rbacv1.GroupKind && broadGroups[s.Name]) ||
		(s.Kind == rbacv1.UserKind && s.Name == "system:anonymous")
}

func describeSubject(s rbacv1.Subject, bindingNS string) string {
	if s.Kind == rbacv1.ServiceAccountKind {
		ns := s.Namespace
		if ns == "" {
			ns = bindingNS
		}
		return "ServiceAccount " + ns + "/" + s.Name
	}
	return s.Kind + " " + s.Name
}
