// Package baseline builds the guide's per-tenant baseline as typed
// Kubernetes objects: the labelled Namespace, ResourceQuota, LimitRange,
// the default-deny NetworkPolicies with their DNS and shared-ingress
// exceptions, and the tenant-reconciler ServiceAccount, Role and
// RoleBinding.
//
// Provision mode applies these objects to create test tenants; audit mode
// and the layer checks use them as the reference of what a tenant should
// look like. The package builds values only; it never talks to a cluster.
package baseline
