// Package rbac is the RBAC layer: it checks that a tenant's identities stay
// inside the tenant's namespaces, as section 3 of the multi-tenancy guide
// asks ("a namespace is only meaningful if the identities acting inside it
// are namespace-scoped too").
//
// For the first namespace of every tenant it mints real, short-lived tokens
// (TokenRequest) for the guide's tenant-reconciler and for the namespace's
// default service account, and with them really tries to break out: read
// and write another tenant's objects, exec into its pods, mint its tokens,
// list cluster-scoped objects, create cluster roles and bindings, bind
// cluster-admin, impersonate, relabel its own namespace. Writes are server
// dry-runs. The API server then judges the tenant exactly as it would
// judge the tenant's workloads; impersonation by the runner would test the
// runner's rights instead.
//
// Positive controls (the reconciler manages its own namespace; the default
// token authenticates) come first: a token that can do nothing proves
// nothing by being refused, so an identity whose control fails has its
// refusals reported as Errors. A last check reads every ClusterRoleBinding
// and RoleBinding of the cluster for bindings that hand a tenant more than
// its own namespaces.
package rbac
