// Package spec reads and validates the tenancy spec: the versioned YAML file
// (apiVersion tenantcheck.io/v1alpha1, kind TenancySpec) that says which
// tenants exist, which namespaces they own, which shared namespaces may
// reach them and where cluster DNS lives. It knows nothing about the
// cluster; without a file, Default returns the guide's baseline.
package spec
