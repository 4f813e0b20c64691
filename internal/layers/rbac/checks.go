package rbac

import (
	"context"

	"github.com/tenantcheck/tenantcheck/internal/baseline"
	"github.com/tenantcheck/tenantcheck/internal/model"
)

// Check is one thing a tenant identity tries. Adding a check is one entry
// in Checks (or Controls) and, when it needs a new kind of request, one
// function in requests.go.
type Check struct {
	model.Check
	// CrossTenant checks are aimed at every other tenant's first namespace;
	// the others at the identity's own namespace or the cluster scope.
	CrossTenant bool
	// Only restricts the check to one service account; empty means both.
	Only string
	// Requests are what id sends; ns is the target namespace of a
	// cross-tenant check and id's own namespace otherwise.
	Requests func(id Identity, ns string) []Request
}

// Request is one API call of a check and how to describe it.
type Request struct {
	// Action is what was tried, e.g. "list secrets in tenant-b-prod".
	Action string
	// To is the namespace aimed at, or "cluster" for cluster-scoped requests.
	To string
	// Kubectl is the kubectl command, without "kubectl" and --as, that
	// repeats the request or asks the same question, e.g.
	// "auth can-i create pods -n tenant-b-prod".
	Kubectl string
	// Do sends the request with the identity's token.
	Do func(ctx context.Context) error
	// Classify reads the answer; nil means outcome.
	Classify func(error) (model.APIOutcome, string)
}

func forbiddenCheck(id, name, description string, cross bool, requests func(id Identity, ns string) []Request) Check {
	return Check{
		Check: model.Check{ID: "rbac/" + id, Layer: model.LayerRBAC, Name: name,
			Description: description, Expected: model.ExpectAPI(model.APIForbidden)},
		CrossTenant: cross,
		Requests:    requests,
	}
}

// single adapts a one-request builder to Check.Requests.
func single(build func(id Identity, ns string) Request) func(Identity, string) []Request {
	return func(id Identity, ns string) []Request { return []Request{build(id, ns)} }
}

// Controls are the positive controls: what the guide's baseline lets each
// identity do. A failed control turns that identity's Forbidden answers
// into Errors, because a token that can do nothing proves nothing by being
// refused.
var Controls = []Check{
	{
		Check: model.Check{ID: "rbac/reconciler-can-manage-own-namespace", Layer: model.LayerRBAC,
			Name:        "reconciler manages its own namespace",
			Description: "the tenant-reconciler token lists and creates configmaps in its own namespace, as the guide's Role grants (the positive control)",
			Expected:    model.ExpectAPI(model.APIAdmitted)},
		Only: baseline.ReconcilerName,
		Requests: func(id Identity, ns string) []Request {
			return []Request{listConfigMaps(id, ns), createConfigMap(id, ns)}
		},
	},
	{
		Check: model.Check{ID: "rbac/tenant-tokens-authenticate", Layer: model.LayerRBAC,
			Name:        "tenant tokens authenticate",
			Description: "the token of every tenant account tried (default and every bound one) is accepted and names that account (the positive control)",
			Expected:    model.ExpectAPI(model.APIAdmitted)},
		Requests: single(whoami),
	},
}

// Checks are the attempts to act beyond the tenant's namespace, in report
// order. Each is tried by every identity of every tenant.
var Checks = []Check{
	forbiddenCheck("cross-tenant-list-secrets", "list secrets of another tenant",
		"a tenant identity cannot list secrets in another tenant's namespace", true, single(listSecrets)),
	forbiddenCheck("cross-tenant-get-secret", "get a secret of another tenant",
		"a tenant identity cannot get a secret in another tenant's namespace (the name need not exist: 403 and 404 tell it)",
		true, single(getSecret)),
	forbiddenCheck("cross-tenant-list-configmaps", "list configmaps of another tenant",
		"a tenant identity cannot list configmaps in another tenant's namespace", true, single(listConfigMaps)),
	forbiddenCheck("cross-tenant-list-pods", "list pods of another tenant",
		"a tenant identity cannot list pods in another tenant's namespace", true, single(listPods)),
	forbiddenCheck("cross-tenant-update-configmap", "update a configmap of another tenant",
		"a tenant identity cannot update (PUT) a configmap in another tenant's namespace (server dry-run; the name need not exist)",
		true, single(updateConfigMap)),
	forbiddenCheck("cross-tenant-create-pod", "create a pod in another tenant",
		"a tenant identity cannot create a pod in another tenant's namespace (server dry-run)", true, single(createPod)),
	forbiddenCheck("cross-tenant-exec", "exec into another tenant's pod",
		"a tenant identity cannot exec into a pod of another tenant's namespace", true, single(execPod)),
	forbiddenCheck("cross-tenant-attach", "attach to or port-forward into another tenant's pod",
		"a tenant identity cannot attach to, or port-forward into, a pod of another tenant's namespace", true,
		func(id Identity, ns string) []Request {
			return []Request{streamPod(id, ns, "attach"), streamPod(id, ns, "portforward")}
		}),
	forbiddenCheck("cross-tenant-ephemeral-container", "add a debug container to another tenant's pod",
		"a tenant identity cannot add an ephemeral container to a pod of another tenant's namespace (pods/ephemeralcontainers, patch and update)",
		true, func(id Identity, ns string) []Request {
			return []Request{ephemeral(id, ns, "patch"), ephemeral(id, ns, "update")}
		}),
	forbiddenCheck("cross-tenant-token", "mint a token of another tenant",
		"a tenant identity cannot request a token for another tenant's default service account", true, single(foreignToken)),
	forbiddenCheck("cross-tenant-rules", "hold any rule in another tenant",
		"a tenant identity holds no rule in another tenant's namespace beyond self-review: its SelfSubjectRulesReview there lists none, each listed grant confirmed with a SelfSubjectAccessReview as the identity",
		true, single(rulesIn(nil))), // Run narrows it to namespaced resources (servedChecks)
	forbiddenCheck("list-namespaces", "list namespaces",
		"a tenant identity cannot list the cluster's namespaces", false, single(listNamespaces)),
	forbiddenCheck("list-nodes", "list nodes",
		"a tenant identity cannot list the cluster's nodes", false, single(listNodes)),
	forbiddenCheck("create-clusterrole", "create a ClusterRole",
		"a tenant identity cannot create a ClusterRole (server dry-run)", false, single(createClusterRole)),
	forbiddenCheck("create-clusterrolebinding", "create a ClusterRoleBinding",
		"a tenant identity cannot create a ClusterRoleBinding (server dry-run)", false, single(createClusterRoleBinding)),
	forbiddenCheck("bind-cluster-admin", "bind cluster-admin in its own namespace",
		"a tenant identity cannot bind ClusterRole cluster-admin in its own namespace (server dry-run)", false,
		single(bindClusterAdmin)),
	forbiddenCheck("impersonate", "impersonate system:admin",
		"a tenant identity cannot impersonate another user", false, single(impersonate)),
	forbiddenCheck("relabel-own-namespace", "relabel or edit its own namespace",
		"a tenant identity cannot set pod-security.kubernetes.io/enforce=privileged on its own namespace, by patch or by update (PUT), nor update the namespace's status (server dry-run)",
		false, func(id Identity, ns string) []Request {
			return []Request{relabelNamespace(id, ns), replaceNamespace(id, ns), namespaceStatus(id, ns)}
		}),
}

// CheckIDs lists the ID of every result Run returns, in report order.
func CheckIDs() []string {
	var out []string
	for _, c := range allChecks() {
		out = append(out, c.ID)
	}
	return append(out, bindingsCheck.ID)
}

// allChecks is the controls first, then the checks: the order of the report.
func allChecks() []Check {
	return append(append([]Check(nil), Controls...), Checks...)
}

// servedChecks is checks with the rules review narrowed to the namespaced
// resources the API server serves ("group/resource"; nil: not narrowed).
func servedChecks(checks []Check, namespaced map[string]bool) []Check {
	out := append([]Check(nil), checks...)
	for i := range out {
		if out[i].ID == "rbac/cross-tenant-rules" {
			out[i].Requests = single(rulesIn(namespaced))
		}
	}
	return out
}
