package kube

import (
	"context"
	"fmt"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MaxAccountsPerNamespace bounds how many service accounts of one tenant
// namespace the layers act as; the rest are named as not tried.
const MaxAccountsPerNamespace = 16

// AccountPermissions are what TenantAccounts reads.
var AccountPermissions = []Permission{
	{Verb: "list", Resource: "serviceaccounts"},
	{Verb: "list", Group: "rbac.authorization.k8s.io", Resource: "rolebindings"},
	{Verb: "list", Group: "rbac.authorization.k8s.io", Resource: "clusterrolebindings"},
}

// Accounts are the service accounts of one namespace that a layer acts as.
type Accounts struct {
	Namespace string
	// Names: "default" first (every pod that names no account runs as it),
	// then every account of the namespace that some RoleBinding or
	// ClusterRoleBinding in the cluster names, sorted.
	Names []string
	// Untried are bound accounts left out past MaxAccountsPerNamespace.
	Untried []string
}

// AccountsIn is the entry of all for namespace ns, or default alone when
// all does not name it.
func AccountsIn(all []Accounts, ns string) Accounts {
	for _, a := range all {
		if a.Namespace == ns {
			return a
		}
	}
	return Accounts{Namespace: ns, Names: []string{"default"}}
}

// TenantAccounts lists, for each namespace, the service accounts a tenant
// really acts as: default, and every existing account that a binding
// anywhere in the cluster grants something. An account no binding names can
// do only what every account can, which default already shows.
func (c *Client) TenantAccounts(ctx context.Context, namespaces []string) ([]Accounts, error) {
	crbs, err := c.Clientset.RbacV1().ClusterRoleBindings().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, Explain(err, "list clusterrolebindings")
	}
	rbs, err := c.Clientset.RbacV1().RoleBindings("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, Explain(err, "list rolebindings in all namespaces")
	}
	bound := BoundAccounts(crbs.Items, rbs.Items)
	var out []Accounts
	for _, ns := range namespaces {
		sas, err := c.Clientset.CoreV1().ServiceAccounts(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, Explain(err, "list serviceaccounts in "+ns)
		}
		exists := map[string]bool{}
		for _, sa := range sas.Items {
			exists[sa.Name] = true
		}
		out = append(out, accountsOf(ns, bound[ns], exists))
	}
	return out, nil
}

func accountsOf(ns string, bound []string, exists map[string]bool) Accounts {
	a := Accounts{Namespace: ns, Names: []string{"default"}}
	for _, name := range bound {
		switch {
		case name == "default" || !exists[name]:
		case len(a.Names) < MaxAccountsPerNamespace:
			a.Names = append(a.Names, name)
		default:
			a.Untried = append(a.Untried, name)
		}
	}
	return a
}

// BoundAccounts is pure: per namespace, the sorted names of its service
// accounts that the bindings name as a subject, as a ServiceAccount or as
// the user system:serviceaccount:<ns>:<name>.
func BoundAccounts(crbs []rbacv1.ClusterRoleBinding, rbs []rbacv1.RoleBinding) map[string][]string {
	set := map[string]map[string]bool{}
	add := func(s rbacv1.Subject, bindingNS string) {
		var ns, name string
		switch s.Kind {
		case rbacv1.ServiceAccountKind:
			ns, name = s.Namespace, s.Name
			if ns == "" {
				ns = bindingNS
			}
		case rbacv1.UserKind:
			rest, ok := strings.CutPrefix(s.Name, "system:serviceaccount:")
			if !ok {
				return
			}
			ns, name, _ = strings.Cut(rest, ":")
		default:
			return
		}
		if ns == "" || name == "" {
			return
		}
		if set[ns] == nil {
			set[ns] = map[string]bool{}
		}
		set[ns][name] = true
	}
	for _, b := range crbs {
		for _, s := range b.Subjects {
			add(s, "")
		}
	}
	for _, b := range rbs {
		for _, s := range b.Subjects {
			add(s, b.Namespace)
		}
	}
	out := map[string][]string{}
	for ns, names := range set {
		for n := range names {
			out[ns] = append(out[ns], n)
		}
		slices.Sort(out[ns])
	}
	return out
}

// User is the user name the API server gives a service account.
func User(ns, sa string) string { return fmt.Sprintf("system:serviceaccount:%s:%s", ns, sa) }
