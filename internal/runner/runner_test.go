package runner

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantcheck/tenantcheck/internal/kube"
	"github.com/tenantcheck/tenantcheck/internal/layer"
	"github.com/tenantcheck/tenantcheck/internal/layers"
	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/internal/spec"
)

func TestRoster(t *testing.T) {
	const id = "abcde"
	orig := spec.Default()
	suffixed, err := orig.WithRunSuffix(id)
	require.NoError(t, err)
	both := []string{"tenant-a", "tenant-b"}
	// The outsider and the canary are the run's own in every mode: an audit
	// still creates (and deletes) those two.
	own := []model.Member{
		{Display: "outsider", Namespace: "tc-abcde-outsider", Role: model.RoleOutsider, Owned: true},
		{Display: "canary", Namespace: "tc-abcde-canary", Role: model.RoleCanary, Owned: true},
	}
	tests := []struct {
		name    string
		run     *spec.Spec
		mode    model.Mode
		members []model.Member
		owned   []string
		foreign []string
	}{
		{"provision", suffixed, model.ModeProvision, append([]model.Member{
			{Display: "tenant-a-prod", Namespace: "tc-abcde-tenant-a-prod", Tenant: "tenant-a", Role: model.RoleTenant, Owned: true},
			{Display: "tenant-b-prod", Namespace: "tc-abcde-tenant-b-prod", Tenant: "tenant-b", Role: model.RoleTenant, Owned: true},
			{Display: "ingress-shared", Namespace: "tc-abcde-ingress-shared", Role: model.RoleShared, AllowedTo: both, Owned: true},
		}, own...),
			[]string{"tc-abcde-tenant-a-prod", "tc-abcde-tenant-b-prod", "tc-abcde-ingress-shared", "tc-abcde-outsider", "tc-abcde-canary"}, nil},
		// An audit works in the spec's real namespaces and must never delete them.
		{"audit", orig, model.ModeAudit, append([]model.Member{
			{Display: "tenant-a-prod", Namespace: "tenant-a-prod", Tenant: "tenant-a", Role: model.RoleTenant},
			{Display: "tenant-b-prod", Namespace: "tenant-b-prod", Tenant: "tenant-b", Role: model.RoleTenant},
			{Display: "ingress-shared", Namespace: "ingress-shared", Role: model.RoleShared, AllowedTo: both},
		}, own...),
			[]string{"tc-abcde-outsider", "tc-abcde-canary"}, []string{"tenant-a-prod", "tenant-b-prod", "ingress-shared"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := roster(orig, tt.run, id, tt.mode)
			assert.Equal(t, tt.members, r.Members)
			assert.Equal(t, spec.DefaultTenantLabel, r.TenantLabel)
			assert.Equal(t, spec.DefaultDNSNamespace, r.DNSNamespace)
			assert.Equal(t, spec.DefaultDNSService, r.DNSService)
			assert.Equal(t, tt.owned, r.Owned())
			assert.Equal(t, tt.foreign, r.Foreign())
		})
	}
}

// The roster copies the run spec's tenant label and DNS location rather
// than assuming the defaults.
func TestRosterCopiesSpecFields(t *testing.T) {
	s := spec.Default()
	s.TenantLabel = "example.com/tenant"
	s.DNS.Namespace, s.DNS.Service = "dns-system", "coredns"
	r := roster(s, s, "abcde", model.ModeAudit)
	assert.Equal(t, "example.com/tenant", r.TenantLabel)
	assert.Equal(t, "dns-system", r.DNSNamespace)
	assert.Equal(t, "coredns", r.DNSService)
}

func TestNeeds(t *testing.T) {
	all := layers.All()
	extra := kube.Permission{Verb: "create", Resource: "leases", Group: "coordination.k8s.io", Namespace: "tenantcheck"}
	// Cleanup of an audit removes by label what the layers left in
	// namespaces the run does not own.
	cleanup := layer.CleanupNeeds(layer.Kinds(all))
	require.NotEmpty(t, cleanup)
	// Objects only a provisioned baseline creates. (networkpolicies is not
	// here: the network layer's canary creates one in every mode.)
	baselineOnly := []kube.Permission{
		{Verb: "create", Resource: "resourcequotas"},
		{Verb: "create", Resource: "limitranges"},
		{Verb: "create", Resource: "serviceaccounts"},
		{Verb: "create", Group: "rbac.authorization.k8s.io", Resource: "roles"},
		{Verb: "create", Group: "rbac.authorization.k8s.io", Resource: "rolebindings"},
	}
	tests := []struct {
		name    string
		mode    model.Mode
		ls      []layer.Layer
		extra   []kube.Permission
		has     []kube.Permission
		hasNone []kube.Permission
	}{
		// Provision mode creates nothing in namespaces it does not own, so
		// it needs no cleanup by kind beyond deleting its namespaces.
		{"provision, every layer", model.ModeProvision, all, []kube.Permission{extra},
			append(append([]kube.Permission{extra}, baselinePermissions...), corePermissions...),
			[]kube.Permission{{Verb: "deletecollection", Group: "apps", Resource: "deployments"}}},
		{"audit, every layer", model.ModeAudit, all, []kube.Permission{extra},
			append(append([]kube.Permission{extra}, cleanup...), corePermissions...), baselineOnly},
		{"audit, no layer", model.ModeAudit, nil, nil, corePermissions, baselinePermissions},
		{"provision, no layer", model.ModeProvision, nil, nil, append(append([]kube.Permission(nil), corePermissions...), baselinePermissions...), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Needs(tt.mode, tt.ls, tt.extra)
			for _, p := range tt.has {
				assert.Contains(t, got, p)
			}
			for _, p := range tt.hasNone {
				assert.NotContains(t, got, p)
			}
			seen := map[kube.Permission]int{}
			for _, p := range got {
				seen[p]++
			}
			for p, n := range seen {
				assert.Equal(t, 1, n, "%s listed %d times", p, n)
			}
			// Each layer's own needs are in, in every mode.
			for _, l := range tt.ls {
				for _, p := range l.Needs(tt.mode) {
					assert.Contains(t, got, p, "layer %s", l.ID)
				}
			}
		})
	}
}

// The deployments the Pod Security layer creates are a kind an audit must
// be able to find and remove again.
func TestNeedsAuditCleansUpDeployments(t *testing.T) {
	got := Needs(model.ModeAudit, layers.All(), nil)
	for _, verb := range []string{"list", "delete", "deletecollection"} {
		assert.Contains(t, got, kube.Permission{Verb: verb, Group: "apps", Resource: "deployments"})
	}
}

func TestNewRun(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr string
		layers  []model.Layer
	}{
		{"every layer by default", Options{}, "", layers.IDs()},
		{"selected layers in run order", Options{Layers: []model.Layer{model.LayerQuota, model.LayerNamespace}}, "",
			[]model.Layer{model.LayerNamespace, model.LayerQuota}},
		{"unknown layer", Options{Layers: []model.Layer{model.LayerQuota, "bogus"}}, `"bogus"`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := newRun(tt.opts)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				// The message lists what exists, so the user can correct it.
				assert.Contains(t, err.Error(), string(model.LayerNamespace))
				return
			}
			require.NoError(t, err)
			var got []model.Layer
			for _, l := range r.layers {
				got = append(got, l.ID)
			}
			assert.Equal(t, tt.layers, got)
		})
	}
}

// newRun's defaults: provision mode against the guide's tenants, under
// namespace names unique to the run.
func TestNewRunModes(t *testing.T) {
	tests := []struct {
		name     string
		mode     model.Mode
		wantMode model.Mode
		suffixed bool
	}{
		{"default is provision", "", model.ModeProvision, true},
		{"provision", model.ModeProvision, model.ModeProvision, true},
		{"audit keeps the spec's names", model.ModeAudit, model.ModeAudit, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := newRun(Options{Mode: tt.mode})
			require.NoError(t, err)
			assert.Len(t, r.ID, 5)
			assert.Equal(t, tt.wantMode, r.opts.Mode)
			require.NotNil(t, r.opts.Spec)
			assert.Equal(t, spec.Default(), r.opts.Spec)
			want := spec.Default().TenantNamespaces()
			if tt.suffixed {
				for i, ns := range want {
					want[i] = spec.RunNamespace(r.ID, ns)
				}
			}
			assert.Equal(t, want, r.Spec.TenantNamespaces())
			assert.Equal(t, want, r.Roster.TenantNamespaces())
			assert.Equal(t, r.ID, r.Labels["tenantcheck.io/run"])
		})
	}
}
