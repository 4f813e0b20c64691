// Package flux is the Flux layer: section 4 of the multi-tenancy guide,
// "Flux CD can preserve or break tenant isolation".
//
// When the Kustomization CRD exists, the layer reads the Flux controllers'
// Deployments (found by Flux's labels in the namespaces Flux runs in, never
// in a tenant's) for the guide's lockdown flags (--no-cross-namespace-refs,
// --no-remote-bases, --default-service-account) and the tenants'
// Kustomizations and HelmReleases for a serviceAccountName and for sources
// in other namespaces; with none to read, those checks are Skipped. Then it asks the real controller: in the first
// tenant's namespace it creates three Kustomizations aimed at the second
// tenant (a sourceRef into its namespace; content applied as the tenant's
// reconciler; content applied with no service account named) and judges
// each by the controller's own Ready condition and by whether the content
// landed in the other tenant. A Forbidden counts only when it names the
// identity under test: one naming the controller itself (which may not
// impersonate the tenant) proves nothing and is an Error.
//
// Their source is an ExternalArtifact whose status the layer writes itself,
// pointing at a tarball served from a pod in the run's outsider namespace:
// no Git host and no source-controller are involved, and nothing leaves the
// cluster. Without Flux every check is Skipped, never an Error.
package flux
