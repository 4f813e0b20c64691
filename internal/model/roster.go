package model

import "slices"

// Role of a namespace in a run.
type Role string

// The roles a namespace of the run can have.
const (
	RoleTenant   Role = "tenant"
	RoleShared   Role = "shared"   // a platform namespace allowed to reach some tenants (ingress)
	RoleOutsider Role = "outsider" // the run's own namespace that is neither tenant nor shared
	RoleCanary   Role = "canary"   // the run's own namespace for the enforcement canary
)

// Member is one namespace of a run: what it is called in the spec, what it
// is called in the cluster, whose it is and what it may reach. It is what
// the run knows before it touches the cluster; what the cluster gives a
// layer (pods, IPs) belongs to that layer.
type Member struct {
	// Display is the namespace's name in the spec (before run suffixes).
	Display string `json:"display"`
	// Namespace is its name in the cluster.
	Namespace string `json:"namespace"`
	// Tenant owns the namespace (RoleTenant only).
	Tenant string `json:"tenant,omitempty"`
	Role   Role   `json:"role"`
	// AllowedTo lists the tenants a shared namespace may reach.
	AllowedTo []string `json:"allowedTo,omitempty"`
	// IngressPorts: for a tenant namespace, the ports of its workloads its
	// shared namespaces may reach ("8080/TCP"); empty means any.
	IngressPorts []string `json:"ingressPorts,omitempty"`
	// AllowedFrom lists the tenants that may reach a shared namespace.
	AllowedFrom []string `json:"allowedFrom,omitempty"`
	// PodSecurity is what a tenant namespace's pods are held to (from the
	// spec; the zero value means the guide's: restricted, by PodSecurity).
	PodSecurity PodSecurityExpectation `json:"podSecurity,omitempty"`
	// Owned: the run created this namespace and deletes it at the end
	// (every namespace in provision mode; only the outsider and the canary
	// in an audit).
	Owned bool `json:"owned"`
}

// PodSecurityExpectation is the Pod Security Standard level a tenant's pods
// must be held to, and the controls the spec says enforce it: "PodSecurity"
// (the namespace's enforce label) and/or "ValidatingAdmissionPolicy/<name>".
type PodSecurityExpectation struct {
	Level      string   `json:"level,omitempty"`
	EnforcedBy []string `json:"enforcedBy,omitempty"`
}

// LevelOrDefault is the expected level, restricted unless the spec says otherwise.
func (p PodSecurityExpectation) LevelOrDefault() string {
	if p.Level == "" {
		return "restricted"
	}
	return p.Level
}

// Enforcers are the controls expected to enforce the level, PodSecurity
// unless the spec says otherwise.
func (p PodSecurityExpectation) Enforcers() []string {
	if len(p.EnforcedBy) == 0 {
		return []string{"PodSecurity"}
	}
	return p.EnforcedBy
}

// TenantRef is one tenant and its namespaces (in the cluster's names), the
// first of which is the one its identities act from.
type TenantRef struct {
	Name       string
	Namespaces []string
	// Users and Groups are the tenant's people as the spec names them.
	Users, Groups []string
}

// People are a tenant's users and groups, as the spec names them.
type People struct {
	Users, Groups []string
}

// Roster is every namespace of one run, in a stable order: the tenants' in
// spec order, the shared ones, then the outsider and the canary. It is
// built once, before any layer runs, and every layer reads it.
type Roster struct {
	Members []Member
	// TenantLabel is the namespace label that names a namespace's tenant.
	TenantLabel string
	// DNSNamespace and DNSService locate cluster DNS (kube-system/kube-dns).
	DNSNamespace, DNSService string
	// People are each tenant's users and groups, by tenant name.
	People map[string]People
}

// ByRole returns the members of the given roles, in roster order.
func (r Roster) ByRole(roles ...Role) []Member {
	var out []Member
	for _, m := range r.Members {
		if slices.Contains(roles, m.Role) {
			out = append(out, m)
		}
	}
	return out
}

// First returns the first member of a role; ok is false when there is none.
func (r Roster) First(role Role) (Member, bool) {
	for _, m := range r.Members {
		if m.Role == role {
			return m, true
		}
	}
	return Member{}, false
}

// Tenants lists each tenant with its namespaces, in roster order.
func (r Roster) Tenants() []TenantRef {
	var out []TenantRef
	idx := map[string]int{}
	for _, m := range r.Members {
		if m.Role != RoleTenant {
			continue
		}
		i, ok := idx[m.Tenant]
		if !ok {
			i = len(out)
			idx[m.Tenant] = i
			p := r.People[m.Tenant]
			out = append(out, TenantRef{Name: m.Tenant, Users: p.Users, Groups: p.Groups})
		}
		out[i].Namespaces = append(out[i].Namespaces, m.Namespace)
	}
	return out
}

// TenantNamespaces are the tenants' namespaces in roster order.
func (r Roster) TenantNamespaces() []string { return names(r.ByRole(RoleTenant)) }

// Namespaces are all the run's namespaces in roster order.
func (r Roster) Namespaces() []string { return names(r.Members) }

// Owned are the namespaces the run creates and deletes.
func (r Roster) Owned() []string {
	var out []string
	for _, m := range r.Members {
		if m.Owned {
			out = append(out, m.Namespace)
		}
	}
	return out
}

// Foreign are the existing namespaces the run works in without owning
// them: an audit's tenant and shared namespaces. What the run puts there
// must be found again by label and removed.
func (r Roster) Foreign() []string {
	var out []string
	for _, m := range r.Members {
		if !m.Owned {
			out = append(out, m.Namespace)
		}
	}
	return out
}

func names(ms []Member) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Namespace
	}
	return out
}
