package baseline

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/tenantcheck/tenantcheck/internal/spec"
)

func guideParams() Params {
	return Params{
		Tenant:           "tenant-a",
		Namespace:        "tenant-a-prod",
		TenantLabel:      "tenant.platform.example/name",
		DNSNamespace:     "kube-system",
		DNSPodLabels:     map[string]string{"k8s-app": "kube-dns"},
		SharedNamespaces: []string{"ingress-shared"},
	}
}

// loadGuide decodes testdata/guide-tenant-a.yaml, the guide's manifests.
func loadGuide(t *testing.T) []runtime.Object {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "guide-tenant-a.yaml"))
	require.NoError(t, err)
	var out []runtime.Object
	for _, doc := range strings.Split(string(data), "\n---\n") {
		var head struct{ Kind string }
		require.NoError(t, yaml.Unmarshal([]byte(doc), &head))
		obj := map[string]runtime.Object{
			"Namespace": &corev1.Namespace{}, "ResourceQuota": &corev1.ResourceQuota{},
			"LimitRange": &corev1.LimitRange{}, "NetworkPolicy": &networkingv1.NetworkPolicy{},
			"ServiceAccount": &corev1.ServiceAccount{}, "Role": &rbacv1.Role{}, "RoleBinding": &rbacv1.RoleBinding{},
		}[head.Kind]
		require.NotNil(t, obj, "unexpected kind %q in guide manifests", head.Kind)
		require.NoError(t, yaml.UnmarshalStrict([]byte(doc), obj))
		out = append(out, obj)
	}
	return out
}

// TestForTenantMatchesGuide is the proof that the baseline is the guide's:
// every generated object equals the guide's manifest, in the same order.
func TestForTenantMatchesGuide(t *testing.T) {
	objs, err := ForTenant(guideParams())
	require.NoError(t, err)
	got, want := objs.List(), loadGuide(t)
	require.Len(t, got, len(want))
	for i := range want {
		name := mustAccessor(t, want[i]).GetName()
		if !equality.Semantic.DeepEqual(want[i], got[i]) {
			assert.Equal(t, want[i], got[i], "object %d (%s) differs from the guide", i, name)
		}
	}
}

func mustAccessor(t *testing.T, obj runtime.Object) metav1.Object {
	t.Helper()
	acc, err := meta.Accessor(obj)
	require.NoError(t, err)
	return acc
}

func TestGuideValues(t *testing.T) {
	objs, err := ForTenant(guideParams())
	require.NoError(t, err)

	assert.Equal(t, "tenant-a-quota", objs.ResourceQuota.Name)
	hard := map[string]string{}
	for k, q := range objs.ResourceQuota.Spec.Hard {
		hard[string(k)] = q.String()
	}
	assert.Equal(t, map[string]string{
		"requests.cpu": "8", "requests.memory": "16Gi", "limits.cpu": "16", "limits.memory": "32Gi",
		"pods": "100", "persistentvolumeclaims": "20",
	}, hard)

	assert.Equal(t, "tenant-a-defaults", objs.LimitRange.Name)
	lr := objs.LimitRange.Spec.Limits[0]
	assert.Equal(t, corev1.LimitTypeContainer, lr.Type)
	assert.Equal(t, "100m", lr.DefaultRequest.Cpu().String())
	assert.Equal(t, "128Mi", lr.DefaultRequest.Memory().String())
	assert.Equal(t, "500m", lr.Default.Cpu().String())
	assert.Equal(t, "512Mi", lr.Default.Memory().String())

	var names []string
	for _, np := range objs.NetworkPolicies {
		names = append(names, np.Name)
	}
	assert.Equal(t, []string{"default-deny", "allow-same-namespace-and-dns", "allow-from-shared-ingress"}, names)

	dns := objs.NetworkPolicies[1].Spec.Egress[1]
	require.Len(t, dns.Ports, 2)
	assert.Equal(t, corev1.ProtocolUDP, *dns.Ports[0].Protocol)
	assert.Equal(t, corev1.ProtocolTCP, *dns.Ports[1].Protocol)
	assert.Equal(t, 53, dns.Ports[0].Port.IntValue())
	assert.Equal(t, map[string]string{"kubernetes.io/metadata.name": "kube-system"},
		dns.To[0].NamespaceSelector.MatchLabels)

	assert.Equal(t, rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "tenant-reconciler"},
		objs.RoleBinding.RoleRef)
}

func TestForTenantLabels(t *testing.T) {
	p := guideParams()
	p.Labels = OwnershipLabels("run-1")
	objs, err := ForTenant(p)
	require.NoError(t, err)
	for _, obj := range objs.List() {
		acc := mustAccessor(t, obj)
		assert.Equal(t, "tenantcheck", acc.GetLabels()[LabelManagedBy], acc.GetName())
		assert.Equal(t, "run-1", acc.GetLabels()[LabelRun], acc.GetName())
	}
	assert.Equal(t, map[string]string{
		LabelManagedBy: "tenantcheck", LabelRun: "run-1",
		"tenant.platform.example/name": "tenant-a",
		LabelPSAEnforce:                "restricted", LabelPSAAudit: "restricted", LabelPSAWarn: "restricted",
	}, objs.Namespace.Labels)

	objs.Role.Labels["changed"] = "yes"
	assert.NotContains(t, objs.RoleBinding.Labels, "changed", "objects do not share label maps")
	assert.NotContains(t, p.Labels, "changed")
}

func TestSharedNamespaces(t *testing.T) {
	tests := []struct {
		name   string
		shared []string
		want   []string // namespaces selected by allow-from-shared-ingress; nil: no such policy
	}{
		{"none", nil, nil},
		{"one", []string{"ingress-shared"}, []string{"ingress-shared"}},
		{"two", []string{"ingress-nginx", "monitoring"}, []string{"ingress-nginx", "monitoring"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := guideParams()
			p.SharedNamespaces = tt.shared
			objs, err := ForTenant(p)
			require.NoError(t, err)
			var got []string
			for _, np := range objs.NetworkPolicies {
				if np.Name != PolicyAllowFromShared {
					continue
				}
				assert.Equal(t, map[string]string{LabelPartOf: "tenant-a"}, np.Spec.PodSelector.MatchLabels)
				require.Len(t, np.Spec.Ingress, 1)
				for _, peer := range np.Spec.Ingress[0].From {
					assert.Nil(t, peer.PodSelector)
					got = append(got, peer.NamespaceSelector.MatchLabels[corev1.LabelMetadataName])
				}
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

// A tenant the spec lets call shared services gets one egress policy to
// those namespaces, and nothing else changes.
func TestSharedServices(t *testing.T) {
	p := guideParams()
	plain, err := ForTenant(p)
	require.NoError(t, err)
	p.SharedServices = []string{"vault", "registry-proxy"}
	objs, err := ForTenant(p)
	require.NoError(t, err)
	require.Len(t, objs.NetworkPolicies, len(plain.NetworkPolicies)+1)
	np := objs.NetworkPolicies[len(objs.NetworkPolicies)-1]
	assert.Equal(t, PolicyAllowToShared, np.Name)
	assert.Empty(t, np.Spec.PodSelector.MatchLabels, "every pod of the tenant")
	assert.Equal(t, []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}, np.Spec.PolicyTypes)
	require.Len(t, np.Spec.Egress, 1)
	var got []string
	for _, peer := range np.Spec.Egress[0].To {
		got = append(got, peer.NamespaceSelector.MatchLabels[corev1.LabelMetadataName])
	}
	assert.Equal(t, []string{"vault", "registry-proxy"}, got)

	p.SharedServices = []string{"Not_A_Name"}
	_, err = ForTenant(p)
	assert.ErrorContains(t, err, `shared namespace "Not_A_Name"`)
}

func TestForTenantInvalid(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*Params)
		wantErr string
	}{
		{"bad namespace", func(p *Params) { p.Namespace = "Tenant_A" }, `namespace "Tenant_A"`},
		{"bad tenant", func(p *Params) { p.Tenant = "" }, `tenant ""`},
		{"bad dns namespace", func(p *Params) { p.DNSNamespace = "kube.system" }, `dns namespace "kube.system"`},
		{"no dns labels", func(p *Params) { p.DNSPodLabels = nil }, "no dns pod labels"},
		{"bad tenant label", func(p *Params) { p.TenantLabel = "bad key/x/y" }, "tenant label bad key/x/y"},
		{"bad shared", func(p *Params) { p.SharedNamespaces = []string{"UP"} }, `shared namespace "UP"`},
		{"bad extra label", func(p *Params) { p.Labels = map[string]string{"run": "a b"} }, "label run=a b"},
		{"overriding psa", func(p *Params) { p.Labels = map[string]string{LabelPSAEnforce: "privileged"} },
			`label "pod-security.kubernetes.io/enforce" is set by the baseline`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := guideParams()
			tt.edit(&p)
			_, err := ForTenant(p)
			assert.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestForSpec(t *testing.T) {
	s, err := spec.Default().WithRunSuffix("r1")
	require.NoError(t, err)
	plan, err := ForSpec(s, OwnershipLabels("r1"), "")
	require.NoError(t, err)

	require.Len(t, plan.Shared, 1)
	assert.Equal(t, "tc-r1-ingress-shared", plan.Shared[0].Name)
	assert.Equal(t, OwnershipLabels("r1"), plan.Shared[0].Labels)
	require.Len(t, plan.Tenants, 2)
	b := plan.Tenants[1]
	assert.Equal(t, "tc-r1-tenant-b-prod", b.Namespace.Name)
	assert.Equal(t, "tenant-b-quota", b.ResourceQuota.Name)
	assert.Equal(t, "tc-r1-tenant-b-prod", b.RoleBinding.Subjects[0].Namespace)
	shared := b.NetworkPolicies[2].Spec.Ingress[0].From[0].NamespaceSelector.MatchLabels
	assert.Equal(t, "tc-r1-ingress-shared", shared[corev1.LabelMetadataName])

	list := plan.List()
	assert.Len(t, list, 1+2*9)
	assert.Same(t, plan.Shared[0], list[0])
	assert.Same(t, plan.Tenants[0].Namespace, list[1], "a tenant namespace precedes its objects")
}
