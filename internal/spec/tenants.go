package spec

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// TenantNames returns the tenant names in spec order.
func (s *Spec) TenantNames() []string {
	names := make([]string, len(s.Tenants))
	for i, t := range s.Tenants {
		names[i] = t.Name
	}
	return names
}

// TenantNamespaces returns every tenant namespace in spec order.
func (s *Spec) TenantNamespaces() []string {
	var out []string
	for _, t := range s.Tenants {
		out = append(out, t.Namespaces...)
	}
	return out
}

// TenantOf returns the tenant owning namespace ns, and false when ns is not
// a tenant namespace (a shared or unknown one).
func (s *Spec) TenantOf(ns string) (string, bool) {
	for _, t := range s.Tenants {
		if slices.Contains(t.Namespaces, ns) {
			return t.Name, true
		}
	}
	return "", false
}

// SharedFor returns the shared namespaces allowed to reach tenant's pods,
// in spec order.
func (s *Spec) SharedFor(tenant string) []string {
	return s.sharedWhere(func(sh Shared) []string { return sh.AllowedTo }, tenant)
}

// sharedWhere returns the shared namespaces whose list names tenant.
func (s *Spec) sharedWhere(list func(Shared) []string, tenant string) []string {
	var out []string
	for _, sh := range s.Shared {
		if slices.Contains(list(sh), tenant) {
			out = append(out, sh.Namespace)
		}
	}
	return out
}

// SharedServicesOf returns the shared namespaces tenant's pods may reach,
// in spec order.
func (s *Spec) SharedServicesOf(tenant string) []string {
	return s.sharedWhere(func(sh Shared) []string { return sh.AllowedFrom }, tenant)
}

// RunPrefix is the prefix of every namespace provision mode creates.
const RunPrefix = "tc-"

// maxSuffix keeps "tc-<suffix>-" short enough to leave room for the name.
const maxSuffix = 16

// WithRunSuffix returns a copy of s whose tenant and shared namespaces are
// made unique to one run, so provision mode never touches real tenants and
// parallel runs never collide: "tenant-a-prod" becomes
// "tc-<suffix>-tenant-a-prod". Names that would exceed 63 characters are
// truncated and end in a short hash of the original name, so they stay
// distinct. Tenant names, the DNS location and the tenant label are kept.
func (s *Spec) WithRunSuffix(suffix string) (*Spec, error) {
	if len(suffix) > maxSuffix || len(validation.IsDNS1123Label(suffix)) > 0 {
		return nil, fmt.Errorf("run suffix %q: want at most %d lower-case letters, digits or '-'", suffix, maxSuffix)
	}
	out := s.DeepCopy()
	for i := range out.Tenants {
		for k, ns := range out.Tenants[i].Namespaces {
			out.Tenants[i].Namespaces[k] = RunNamespace(suffix, ns)
		}
	}
	for i := range out.Shared {
		out.Shared[i].Namespace = RunNamespace(suffix, out.Shared[i].Namespace)
	}
	return out, nil
}

// RunNamespace is the run-unique form of namespace ns; see WithRunSuffix.
func RunNamespace(suffix, ns string) string {
	name := RunPrefix + suffix + "-" + ns
	if len(name) <= validation.DNS1123LabelMaxLength {
		return name
	}
	sum := sha256.Sum256([]byte(ns))
	hash := hex.EncodeToString(sum[:])[:6]
	keep := validation.DNS1123LabelMaxLength - len(hash) - 1
	return strings.TrimRight(name[:keep], "-") + "-" + hash
}
