package runner

import (
	"github.com/tenantcheck/tenantcheck/internal/kube"
	"github.com/tenantcheck/tenantcheck/internal/layer"
	"github.com/tenantcheck/tenantcheck/internal/model"
)

// corePermissions are what every run does, whatever its layers: check that
// its namespaces are free (or, in an audit, exist), create and delete its
// own namespaces, wait for their default service account, and read the
// report's metadata (node count, a CNI hint).
var corePermissions = []kube.Permission{
	layer.GetNamespaces,
	layer.ListNamespaces,
	{Verb: "create", Resource: "namespaces"},
	{Verb: "delete", Resource: "namespaces"},
	{Verb: "get", Resource: "serviceaccounts"},
	{Verb: "list", Resource: "nodes"},
	{Verb: "list", Resource: "pods"},
	{Verb: "deletecollection", Resource: "pods"}, // pods first, so a namespace goes in seconds
}

// baselinePermissions: provision mode creates the guide's baseline objects
// in its own test tenants.
var baselinePermissions = []kube.Permission{
	{Verb: "create", Resource: "resourcequotas"},
	{Verb: "create", Resource: "limitranges"},
	{Verb: "create", Resource: "serviceaccounts"},
	{Verb: "create", Group: "networking.k8s.io", Resource: "networkpolicies"},
	{Verb: "create", Group: "rbac.authorization.k8s.io", Resource: "roles"},
	{Verb: "create", Group: "rbac.authorization.k8s.io", Resource: "rolebindings"},
}

// Needs is every permission a run of these layers needs in mode, extra
// included: the core's, the baseline's (provision mode), each layer's, and
// cleanup's for what the layers create; each once, in that order.
func Needs(mode model.Mode, ls []layer.Layer, extra []kube.Permission) []kube.Permission {
	all := append([]kube.Permission(nil), corePermissions...)
	if mode == model.ModeProvision {
		all = append(all, baselinePermissions...)
	}
	for _, l := range ls {
		if l.Needs != nil {
			all = append(all, l.Needs(mode)...)
		}
	}
	if mode == model.ModeAudit {
		all = append(all, layer.CleanupNeeds(layer.Kinds(ls))...)
	}
	all = append(all, extra...)
	seen := map[kube.Permission]bool{}
	var out []kube.Permission
	for _, p := range all {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// createdKinds: what cleanup looks for in namespaces the run does not own.
var createdKinds = layer.Kinds
