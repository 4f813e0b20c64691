package spec

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/validate/content"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Validate checks the spec and returns every problem found, each naming the
// field path, e.g. `tenants[1].namespaces[0]: "Foo" is not a valid
// namespace name (RFC 1123 label): ...`.
func (s *Spec) Validate() error {
	var errs []error
	add := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	if s.APIVersion != APIVersion {
		add("apiVersion", "%q is not supported (want %s)", s.APIVersion, APIVersion)
	}
	if s.Kind != Kind {
		add("kind", "%q is not %s", s.Kind, Kind)
	}
	owners := s.validateTenants(add)
	s.validateShared(add, owners)
	s.validateDNS(add)
	checkLabelKey(add, "tenantLabel", s.TenantLabel)
	return errors.Join(errs...)
}

type addFunc func(path, format string, args ...any)

// validateTenants checks tenant names and namespaces and returns which
// tenant owns each namespace.
func (s *Spec) validateTenants(add addFunc) map[string]string {
	if len(s.Tenants) < 2 {
		add("tenants", "need at least 2 tenants to test isolation between them, got %d", len(s.Tenants))
	}
	names := map[string]int{}
	owners := map[string]string{}
	subjects := map[string]string{}
	for i, t := range s.Tenants {
		path := fmt.Sprintf("tenants[%d]", i)
		checkName(add, path+".name", "tenant name", t.Name)
		if j, dup := names[t.Name]; dup {
			add(path+".name", "%q duplicates tenants[%d].name", t.Name, j)
		} else {
			names[t.Name] = i
		}
		if len(t.Namespaces) == 0 {
			add(path+".namespaces", "tenant %q has no namespaces", t.Name)
		}
		checkPeople(add, path+".users", "user", t.Users, t.Name, subjects,
			"users are Kubernetes' own, not a tenant's (a tenant's service accounts are found from its namespaces)")
		checkPeople(add, path+".groups", "group", t.Groups, t.Name, subjects,
			"groups are Kubernetes' own (system:authenticated is everyone), not a tenant's")
		if ps := t.PodSecurity; ps != nil {
			switch ps.Level {
			case "", "restricted", "baseline", "privileged":
			default:
				add(path+".podSecurity.level", "%q is not a Pod Security level (restricted, baseline or privileged, lower case)", ps.Level)
			}
			for k, e := range ps.EnforcedBy {
				name, isVAP := strings.CutPrefix(e, EnforcerVAPPrefix)
				switch {
				case e == EnforcerPSA:
				case isVAP && name != "":
					if msgs := content.IsDNS1123Subdomain(name); len(msgs) > 0 {
						add(fmt.Sprintf("%s.podSecurity.enforcedBy[%d]", path, k), "%q is not a valid policy name: %s", name, strings.Join(msgs, "; "))
					}
				default:
					add(fmt.Sprintf("%s.podSecurity.enforcedBy[%d]", path, k), "%q: want %s or %s<name>", e, EnforcerPSA, EnforcerVAPPrefix)
				}
			}
		}
		for k, port := range t.IngressPorts {
			if _, _, err := ParsePort(port); err != nil {
				add(fmt.Sprintf("%s.ingressPorts[%d]", path, k), "%v", err)
			}
		}
		for k, ns := range t.Namespaces {
			nsPath := fmt.Sprintf("%s.namespaces[%d]", path, k)
			checkName(add, nsPath, "namespace name", ns)
			if owner, dup := owners[ns]; dup {
				add(nsPath, "namespace %q already belongs to tenant %q", ns, owner)
				continue
			}
			owners[ns] = t.Name
		}
	}
	return owners
}

func (s *Spec) validateShared(add addFunc, owners map[string]string) {
	seen := map[string]bool{}
	for i, sh := range s.Shared {
		path := fmt.Sprintf("shared[%d]", i)
		checkName(add, path+".namespace", "namespace name", sh.Namespace)
		if owner, ok := owners[sh.Namespace]; ok {
			add(path+".namespace", "%q is a namespace of tenant %q; a shared namespace belongs to no tenant",
				sh.Namespace, owner)
		}
		if seen[sh.Namespace] {
			add(path+".namespace", "%q is listed twice", sh.Namespace)
		}
		seen[sh.Namespace] = true
		for _, f := range []struct {
			field string
			names []string
		}{{"allowedTo", sh.AllowedTo}, {"allowedFrom", sh.AllowedFrom}} {
			for k, name := range f.names {
				if !slices.ContainsFunc(s.Tenants, func(t Tenant) bool { return t.Name == name }) {
					add(fmt.Sprintf("%s.%s[%d]", path, f.field, k), "%q is not a tenant name", name)
				}
			}
		}
	}
}

func (s *Spec) validateDNS(add addFunc) {
	checkName(add, "dns.namespace", "namespace name", s.DNS.Namespace)
	if msgs := validation.IsDNS1035Label(s.DNS.Service); len(msgs) > 0 {
		add("dns.service", "%q is not a valid service name (RFC 1035 label): %s",
			s.DNS.Service, strings.Join(msgs, "; "))
	}
	if len(s.DNS.PodLabels) == 0 {
		add("dns.podLabels", "need at least one label to select the DNS pods")
	}
	for _, k := range slices.Sorted(maps.Keys(s.DNS.PodLabels)) {
		path := fmt.Sprintf("dns.podLabels[%s]", k)
		checkLabelKey(add, path, k)
		if msgs := content.IsLabelValue(s.DNS.PodLabels[k]); len(msgs) > 0 {
			add(path, "%q is not a valid label value: %s", s.DNS.PodLabels[k], strings.Join(msgs, "; "))
		}
	}
}

// checkPeople checks a tenant's users or groups: named, not Kubernetes'
// own (system:), and each in one tenant only (owners, by "kind/name").
func checkPeople(add addFunc, path, kind string, names []string, tenant string, owners map[string]string, systemWhy string) {
	for k, n := range names {
		p := fmt.Sprintf("%s[%d]", path, k)
		key := kind + "/" + n
		switch {
		case strings.TrimSpace(n) == "":
			add(p, "empty %s name", kind)
		case strings.HasPrefix(n, "system:"):
			add(p, "%q: system: %s", n, systemWhy)
		case owners[key] != "":
			add(p, "%s %q already belongs to tenant %q", kind, n, owners[key])
		default:
			owners[key] = tenant
		}
	}
}

// checkName checks a namespace or tenant name. Tenant names are RFC 1123
// labels too: they become label values and parts of object names.
func checkName(add addFunc, path, what, name string) {
	if msgs := validation.IsDNS1123Label(name); len(msgs) > 0 {
		add(path, "%q is not a valid %s (RFC 1123 label): %s", name, what, strings.Join(msgs, "; "))
	}
}

func checkLabelKey(add addFunc, path, key string) {
	if msgs := content.IsLabelKey(key); len(msgs) > 0 {
		add(path, "%q is not a valid label key: %s", key, strings.Join(msgs, "; "))
	}
}
