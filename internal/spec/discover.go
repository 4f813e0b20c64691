package spec

import (
	"fmt"
	"sort"
)

// Namespace is what discovery needs to know of a namespace.
type Namespace struct {
	Name   string
	Labels map[string]string
}

// Discover builds a spec from the namespaces that carry label: one tenant per
// label value, with every namespace of that value. Shared namespaces are
// not discovered; declare them in a spec file. It fails, saying so, when no
// namespace or only one tenant carries the label: isolation needs two.
func Discover(namespaces []Namespace, label string) (*Spec, error) {
	byTenant := map[string][]string{}
	for _, ns := range namespaces {
		if t, ok := ns.Labels[label]; ok && t != "" {
			byTenant[t] = append(byTenant[t], ns.Name)
		}
	}
	switch len(byTenant) {
	case 0:
		return nil, fmt.Errorf("no namespace carries the label %s: label the tenant namespaces, or give a spec with --spec", label)
	case 1:
		for t := range byTenant {
			return nil, fmt.Errorf("only one tenant (%s) carries the label %s: isolation needs at least two", t, label)
		}
	}
	s := Default()
	s.Tenants, s.Shared, s.TenantLabel = nil, nil, label
	names := make([]string, 0, len(byTenant))
	for t := range byTenant {
		names = append(names, t)
	}
	sort.Strings(names)
	for _, t := range names {
		nss := byTenant[t]
		sort.Strings(nss)
		s.Tenants = append(s.Tenants, Tenant{Name: t, Namespaces: nss})
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("discovered tenants: %w", err)
	}
	return s, nil
}
