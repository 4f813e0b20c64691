package spec

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The schema version of the tenancy spec.
const (
	APIVersion = "tenantcheck.io/v1alpha1"
	Kind       = "TenancySpec"
)

// Defaults of the guide baseline.
const (
	DefaultTenantLabel  = "tenant.platform.example/name"
	DefaultDNSNamespace = "kube-system"
	DefaultDNSService   = "kube-dns"
)

// Spec is the tenancy spec: what the isolation should look like.
type Spec struct {
	APIVersion string `json:"apiVersion" yaml:"apiVersion"`
	Kind       string `json:"kind" yaml:"kind"`
	// Tenants are the parties that must not reach each other; at least two.
	Tenants []Tenant `json:"tenants" yaml:"tenants"`
	// Shared are platform namespaces (ingress, observability) with an
	// explicit exception into some tenants.
	Shared []Shared `json:"shared,omitempty" yaml:"shared,omitempty"`
	// DNS locates the cluster resolver every tenant may reach.
	DNS DNS `json:"dns" yaml:"dns"`
	// TenantLabel is the namespace label whose value names the tenant.
	TenantLabel string `json:"tenantLabel" yaml:"tenantLabel"`
}

// Tenant is one tenant and the namespaces it owns.
type Tenant struct {
	Name       string   `json:"name" yaml:"name"`
	Namespaces []string `json:"namespaces" yaml:"namespaces"`
	// Users and Groups are the people (and CI systems) of the tenant as the
	// API server knows them (OIDC user names and groups): bindings to them
	// are the tenant's, and the RBAC layer acts as them through
	// impersonation when the runner may.
	Users  []string `json:"users,omitempty" yaml:"users,omitempty"`
	Groups []string `json:"groups,omitempty" yaml:"groups,omitempty"`
	// PodSecurity is what the tenant's namespaces must refuse, and what
	// enforces it; nil means the guide's: restricted, by the namespace's
	// Pod Security Admission labels.
	PodSecurity *PodSecurity `json:"podSecurity,omitempty" yaml:"podSecurity,omitempty"`
	// IngressPorts are the ports of the tenant's workloads the shared
	// namespaces allowed to it (allowedTo) may reach: "8080", "443/TCP",
	// "5353/UDP" (TCP when left out). Empty: any port of them. With it, the
	// shared namespace must reach the workloads on these ports and no other.
	IngressPorts []string `json:"ingressPorts,omitempty" yaml:"ingressPorts,omitempty"`
}

// ParsePort reads "8080", "8080/TCP" or "5353/udp" as a port and an upper
// case protocol.
func ParsePort(s string) (int, string, error) {
	num, proto, ok := strings.Cut(s, "/")
	if !ok {
		proto = "TCP"
	}
	proto = strings.ToUpper(proto)
	n, err := strconv.Atoi(num)
	switch {
	case err != nil || n < 1 || n > 65535:
		return 0, "", fmt.Errorf("%q: want a port number 1-65535, optionally /TCP or /UDP", s)
	case proto != "TCP" && proto != "UDP":
		return 0, "", fmt.Errorf("%q: protocol %q is not TCP or UDP", s, proto)
	}
	return n, proto, nil
}

// NormalizedIngressPorts are t's ingress ports as "8080/TCP".
func (t Tenant) NormalizedIngressPorts() []string {
	var out []string
	for _, p := range t.IngressPorts {
		if n, proto, err := ParsePort(p); err == nil {
			out = append(out, fmt.Sprintf("%d/%s", n, proto))
		}
	}
	return out
}

// PodSecurity declares the Pod Security Standard level a tenant's pods are
// held to and the admission controls that enforce it.
type PodSecurity struct {
	// Level is restricted (the default), baseline or privileged.
	Level string `json:"level,omitempty" yaml:"level,omitempty"`
	// EnforcedBy names the controls: "PodSecurity" (the namespace's
	// pod-security.kubernetes.io/enforce label, the default) and/or
	// "ValidatingAdmissionPolicy/<name>". When it does not name
	// PodSecurity, the namespace need not carry the enforce label: the
	// layer judges only what the tenant can get admitted.
	EnforcedBy []string `json:"enforcedBy,omitempty" yaml:"enforcedBy,omitempty"`
}

// The controls PodSecurity.EnforcedBy may name.
const (
	EnforcerPSA       = "PodSecurity"
	EnforcerVAPPrefix = "ValidatingAdmissionPolicy/"
)

// PodSecurityOf is t's declaration with its defaults filled in.
func (t Tenant) PodSecurityOf() PodSecurity {
	out := PodSecurity{Level: "restricted", EnforcedBy: []string{EnforcerPSA}}
	if t.PodSecurity == nil {
		return out
	}
	if t.PodSecurity.Level != "" {
		out.Level = t.PodSecurity.Level
	}
	if len(t.PodSecurity.EnforcedBy) > 0 {
		out.EnforcedBy = slices.Clone(t.PodSecurity.EnforcedBy)
	}
	return out
}

// Shared is a shared namespace, the tenants whose pods it may reach
// (AllowedTo: an ingress controller) and the tenants whose pods may reach it
// (AllowedFrom: a registry proxy, Vault). Every other path between a tenant
// and a shared namespace must be blocked.
type Shared struct {
	Namespace   string   `json:"namespace" yaml:"namespace"`
	AllowedTo   []string `json:"allowedTo,omitempty" yaml:"allowedTo,omitempty"`
	AllowedFrom []string `json:"allowedFrom,omitempty" yaml:"allowedFrom,omitempty"`
}

// DNS locates the cluster DNS pods and service.
type DNS struct {
	Namespace string            `json:"namespace" yaml:"namespace"`
	PodLabels map[string]string `json:"podLabels" yaml:"podLabels"`
	Service   string            `json:"service" yaml:"service"`
}

// Default returns the guide's baseline: tenants tenant-a (tenant-a-prod)
// and tenant-b (tenant-b-prod), the shared namespace ingress-shared allowed
// into both, and DNS in kube-system with k8s-app=kube-dns.
func Default() *Spec {
	s := &Spec{
		APIVersion: APIVersion,
		Kind:       Kind,
		Tenants: []Tenant{
			{Name: "tenant-a", Namespaces: []string{"tenant-a-prod"}},
			{Name: "tenant-b", Namespaces: []string{"tenant-b-prod"}},
		},
		Shared: []Shared{{Namespace: "ingress-shared", AllowedTo: []string{"tenant-a", "tenant-b"}}},
	}
	s.SetDefaults()
	return s
}

// SetDefaults fills the optional fields a spec file may leave out: the
// tenant label and the DNS location of a stock kubeadm/kind cluster.
func (s *Spec) SetDefaults() {
	if s.TenantLabel == "" {
		s.TenantLabel = DefaultTenantLabel
	}
	if s.DNS.Namespace == "" {
		s.DNS.Namespace = DefaultDNSNamespace
	}
	if len(s.DNS.PodLabels) == 0 {
		s.DNS.PodLabels = map[string]string{"k8s-app": "kube-dns"}
	}
	if s.DNS.Service == "" {
		s.DNS.Service = DefaultDNSService
	}
}

// Load reads, defaults and validates the spec file at path.
func Load(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read spec: %w", err)
	}
	s, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Parse decodes one YAML document strictly (unknown and duplicate fields are
// errors that name the line), applies defaults and validates the result.
func Parse(data []byte) (*Spec, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var s Spec
	if err := dec.Decode(&s); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("parse spec: empty document")
		}
		return nil, fmt.Errorf("parse spec: %w", tidyYAMLError(err))
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("parse spec: want one YAML document, found more")
	}
	s.SetDefaults()
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("invalid spec: %w", err)
	}
	return &s, nil
}

var unknownField = regexp.MustCompile(`^line (\d+): field (\S+) not found in type \S+$`)

// tidyYAMLError rewrites yaml.v3's "field x not found in type spec.Tenant",
// which leaks Go type names, as `unknown field "x"`, keeping the line.
func tidyYAMLError(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	msgs := make([]string, len(te.Errors))
	for i, msg := range te.Errors {
		msgs[i] = unknownField.ReplaceAllString(msg, `line $1: unknown field "$2"`)
	}
	// One line, as every error the CLI prints: yaml.v3's own form puts a
	// header line above the list.
	return errors.New(strings.Join(msgs, "; "))
}

// Digest identifies the spec a report was produced from: the sha256 of its
// canonical JSON form (defaults applied, map keys sorted), as "sha256:<hex>".
func (s *Spec) Digest() (string, error) {
	data, err := json.Marshal(s)
	if err != nil {
		return "", fmt.Errorf("digest spec: %w", err)
	}
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// DeepCopy returns a copy of s sharing no slices or maps with it.
func (s *Spec) DeepCopy() *Spec {
	out := *s
	out.Tenants = slices.Clone(s.Tenants)
	for i := range out.Tenants {
		out.Tenants[i].Namespaces = slices.Clone(out.Tenants[i].Namespaces)
		out.Tenants[i].Users = slices.Clone(out.Tenants[i].Users)
		out.Tenants[i].Groups = slices.Clone(out.Tenants[i].Groups)
		out.Tenants[i].IngressPorts = slices.Clone(out.Tenants[i].IngressPorts)
		if ps := out.Tenants[i].PodSecurity; ps != nil {
			c := *ps
			c.EnforcedBy = slices.Clone(ps.EnforcedBy)
			out.Tenants[i].PodSecurity = &c
		}
	}
	out.Shared = slices.Clone(s.Shared)
	for i := range out.Shared {
		out.Shared[i].AllowedTo = slices.Clone(out.Shared[i].AllowedTo)
		out.Shared[i].AllowedFrom = slices.Clone(out.Shared[i].AllowedFrom)
	}
	out.DNS.PodLabels = maps.Clone(s.DNS.PodLabels)
	return &out
}
