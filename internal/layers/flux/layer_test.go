package flux

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/tenantcheck/tenantcheck/internal/model"
)

func crd(name string, versions ...string) *unstructured.Unstructured {
	var vs []any
	for i, v := range versions {
		vs = append(vs, map[string]any{"name": v, "served": true, "storage": i == len(versions)-1})
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": name},
		"spec":     map[string]any{"versions": vs},
	}}
}

func fakeDynamic(objs ...runtime.Object) *dynfake.FakeDynamicClient {
	return dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		crdGVR: "CustomResourceDefinitionList",
		{Group: "kustomize.toolkit.fluxcd.io", Version: "v1", Resource: "kustomizations"}: "KustomizationList",
		{Group: "helm.toolkit.fluxcd.io", Version: "v2", Resource: "helmreleases"}:        "HelmReleaseList",
	}, objs...)
}

func TestNotInstalledSkipsEveryCheck(t *testing.T) {
	got := run(context.Background(), env{cs: fake.NewClientset(), dyn: fakeDynamic()}, Input{})
	require.Len(t, got, len(CheckIDs()))
	for i, r := range got {
		assert.Equal(t, CheckIDs()[i], r.CheckID)
		assert.Equal(t, model.Skipped(NotInstalled), r.Judgement)
		assert.Equal(t, model.LayerFlux, r.Layer)
	}
}

func TestDetectionErrorIsAnError(t *testing.T) {
	dyn := fakeDynamic()
	dyn.PrependReactor("get", "customresourcedefinitions", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("connection refused")
	})
	got := run(context.Background(), env{cs: fake.NewClientset(), dyn: dyn}, Input{})
	require.Len(t, got, len(CheckIDs()))
	for _, r := range got {
		assert.Equal(t, model.VerdictError, r.Verdict)
		assert.Contains(t, r.Reason, "connection refused")
	}
}

func TestDetectReadsStorageVersions(t *testing.T) {
	dyn := fakeDynamic(crd("kustomizations.kustomize.toolkit.fluxcd.io", "v1beta2", "v1"), crd("helmreleases.helm.toolkit.fluxcd.io", "v2"))
	got, err := detect(context.Background(), dyn)
	require.NoError(t, err)
	require.NotNil(t, got.kustomization)
	assert.Equal(t, "v1", got.kustomization.Version)
	require.NotNil(t, got.helmRelease)
	assert.Equal(t, "v2", got.helmRelease.Version)
	assert.Nil(t, got.externalArtifact)
}

func fluxObject(apiVersion, kind, ns, name string, spec map[string]any, labels map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": apiVersion, "kind": kind,
		"metadata": map[string]any{"name": name, "namespace": ns, "labels": labels},
		"spec":     spec,
	}}
}

// Installed Flux without ExternalArtifact: the static checks judge the
// tenants' objects, the live checks are skipped with the reason.
func TestTenantObjects(t *testing.T) {
	const ks, hr = "kustomize.toolkit.fluxcd.io/v1", "helm.toolkit.fluxcd.io/v2"
	dyn := fakeDynamic(
		crd("kustomizations.kustomize.toolkit.fluxcd.io", "v1"), crd("helmreleases.helm.toolkit.fluxcd.io", "v2"),
		fluxObject(ks, "Kustomization", "a", "good", map[string]any{"serviceAccountName": "tenant-reconciler",
			"sourceRef": map[string]any{"kind": "GitRepository", "name": "repo"}}, nil),
		fluxObject(ks, "Kustomization", "a", "no-sa", map[string]any{
			"sourceRef": map[string]any{"kind": "GitRepository", "name": "repo", "namespace": "a"}}, nil),
		fluxObject(hr, "HelmRelease", "b", "cross", map[string]any{"serviceAccountName": "x",
			"chart": map[string]any{"spec": map[string]any{"sourceRef": map[string]any{"kind": "HelmRepository", "name": "charts", "namespace": "flux-system"}}}}, nil),
		fluxObject(ks, "Kustomization", "a", "ours", map[string]any{}, map[string]any{"tenantcheck.io/run": "r1"}),
		fluxObject(ks, "Kustomization", "elsewhere", "ignored", map[string]any{}, nil),
	)
	in := Input{Tenants: []Tenant{{Name: "a", Namespaces: []string{"a"}}, {Name: "b", Namespaces: []string{"b"}}},
		Labels: map[string]string{"tenantcheck.io/run": "r1"}, Live: true}
	got := map[string]model.Result{}
	for _, r := range run(context.Background(), env{cs: fake.NewClientset(), dyn: dyn, repro: "kubectl"}, in) {
		got[r.CheckID] = r
	}
	require.Len(t, got, len(CheckIDs()))
	sa := got["flux/tenant-objects-set-serviceaccountname"]
	assert.Equal(t, model.VerdictBroken, sa.Verdict)
	assert.Equal(t, "Kustomization a/no-sa has no serviceAccountName", sa.Reason)
	src := got["flux/tenant-sources-in-own-namespace"]
	assert.Equal(t, model.VerdictBroken, src.Verdict)
	assert.Equal(t, "HelmRelease b/cross references HelmRepository flux-system/charts", src.Reason)
	assert.Contains(t, src.Observed, "3 objects")
	for _, c := range LiveChecks {
		assert.Equal(t, model.VerdictSkipped, got[c.ID].Verdict)
		assert.Contains(t, got[c.ID].Reason, "ExternalArtifact CRD is not installed")
	}
	assert.Equal(t, model.VerdictError, got["flux/controller-lockdown-no-cross-namespace-refs"].Verdict, "no controller Deployment")
}

// On tenants without Flux objects the rules hold only vacuously: every
// object check is Skipped with the reason, not Held.
func TestEmptyTenantsSkip(t *testing.T) {
	kust := &schema.GroupVersionResource{Group: "kustomize.toolkit.fluxcd.io", Version: "v1", Resource: "kustomizations"}
	helm := &schema.GroupVersionResource{Group: "helm.toolkit.fluxcd.io", Version: "v2", Resource: "helmreleases"}
	ours := fluxObject("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "a", "tc-flux-impersonation", map[string]any{},
		map[string]any{"tenantcheck.io/run": "r1"})
	tenants := []Tenant{{Name: "a", Namespaces: []string{"a"}}}
	tests := []struct {
		name string
		crds installed
		mode model.Mode
		want string
	}{
		{"provision", installed{kustomization: kust}, model.ModeProvision,
			"no Kustomization in the tenant namespaces to inspect (the run's own tenants start empty; `tenantcheck audit` inspects existing ones)"},
		{"audit, with HelmReleases", installed{kustomization: kust, helmRelease: helm}, model.ModeAudit,
			"no Kustomization or HelmRelease in the tenant namespaces to inspect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := objectResults(context.Background(), env{dyn: fakeDynamic(ours), repro: "kubectl"}, tt.crds,
				Input{Tenants: tenants, Mode: tt.mode, Labels: map[string]string{"tenantcheck.io/run": "r1"}})
			require.Len(t, rs, len(ObjectChecks))
			for _, r := range rs {
				assert.Equal(t, model.Skipped(tt.want), r.Judgement, "the run's own Kustomization is not the tenant's")
				assert.Equal(t, "0 objects in tenant namespaces, 0 break the rule", r.Observed)
				assert.NotEmpty(t, r.Evidence, "what was listed is still shown")
				assert.NoError(t, r.Validate())
			}
		})
	}
}

// One compliant object is enough for a real Held.
func TestOneCompliantObjectHolds(t *testing.T) {
	kust := &schema.GroupVersionResource{Group: "kustomize.toolkit.fluxcd.io", Version: "v1", Resource: "kustomizations"}
	good := fluxObject("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "a", "apps", map[string]any{"serviceAccountName": "tenant-reconciler",
		"sourceRef": map[string]any{"kind": "GitRepository", "name": "repo"}}, nil)
	rs := objectResults(context.Background(), env{dyn: fakeDynamic(good)}, installed{kustomization: kust},
		Input{Tenants: []Tenant{{Name: "a", Namespaces: []string{"a"}}}, Mode: model.ModeAudit})
	for _, r := range rs {
		assert.Equal(t, model.Held("1 objects, none breaks the rule"), r.Judgement)
	}
}

func TestArtifact(t *testing.T) {
	m, err := configMapManifest("tc-flux-default-sa", "b", map[string]string{"tenantcheck.io/run": "r1"})
	require.NoError(t, err)
	files := map[string][]byte{"tc-flux-default-sa/configmap.yaml": m, "tc-flux-cross-namespace/configmap.yaml": []byte("x")}
	a1, err := buildArtifact(files)
	require.NoError(t, err)
	a2, err := buildArtifact(files)
	require.NoError(t, err)
	assert.Equal(t, a1.digest, a2.digest, "the tarball is reproducible")
	assert.Regexp(t, `^sha256:[0-9a-f]{64}$`, a1.digest)
	assert.Equal(t, "tenantcheck@"+a1.digest, a1.revision)

	gz, err := gzip.NewReader(bytes.NewReader(a1.data))
	require.NoError(t, err)
	tr := tar.NewReader(gz)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		names = append(names, h.Name)
		if h.Name == "tc-flux-default-sa/configmap.yaml" {
			body, _ := io.ReadAll(tr)
			assert.True(t, strings.Contains(string(body), "namespace: b") && strings.Contains(string(body), "kind: ConfigMap"), string(body))
		}
	}
	assert.Equal(t, []string{"tc-flux-cross-namespace/", "tc-flux-cross-namespace/configmap.yaml", "tc-flux-default-sa/", "tc-flux-default-sa/configmap.yaml"}, names)
}

func TestPair(t *testing.T) {
	_, ok := pair([]Tenant{{Name: "a", Namespaces: []string{"a"}}}, 0)
	assert.False(t, ok)
	two := []Tenant{{Name: "a", Namespaces: []string{"a1", "a2"}}, {Name: "b", Namespaces: []string{"b1"}}}
	for _, hour := range []int64{0, 1, 493877} {
		p, ok := pair(two, hour)
		assert.True(t, ok)
		assert.Equal(t, Pair{A: "a1", B: "b1", TenantA: "a", TenantB: "b"}, p, "two tenants: always a against b")
	}
	// More: neighbours in spec order, one pair an hour; a tenant without
	// a namespace is left out.
	four := []Tenant{{Name: "a", Namespaces: []string{"a1"}}, {Name: "empty"}, {Name: "b", Namespaces: []string{"b1"}}, {Name: "c", Namespaces: []string{"c1"}}}
	var got []string
	for hour := int64(0); hour < 4; hour++ {
		p, _ := pair(four, hour)
		got = append(got, p.TenantA+">"+p.TenantB)
	}
	assert.Equal(t, []string{"a>b", "b>c", "c>a", "a>b"}, got)
	p, _ := pair(four, -1)
	assert.Equal(t, "c1", p.A, "a negative rotation still picks a pair")
}

func TestLivePair(t *testing.T) {
	in := Input{Tenants: []Tenant{{Name: "a", Namespaces: []string{"a1"}}, {Name: "b", Namespaces: []string{"b1"}}, {Name: "c", Namespaces: []string{"c1"}}}, Rotation: 1}
	var results []model.Result
	for i, c := range LiveChecks {
		j := model.Held("refused")
		if i == 1 {
			j = model.Broken("applied")
		}
		results = append(results, c.Result(j))
	}
	assert.Equal(t, []model.PairVerdict{{From: "b", To: "c", Layer: model.LayerFlux, Verdict: model.VerdictBroken, Tried: len(LiveChecks)}}, livePair(in, results))
	assert.Empty(t, livePair(in, liveAll(model.Skipped("not opted in"))), "skipped live checks tried no pair")
}

func TestKustomizationRequests(t *testing.T) {
	crds := installed{kustomization: &schema.GroupVersionResource{Group: "kustomize.toolkit.fluxcd.io", Version: "v1", Resource: "kustomizations"}}
	in := Input{Labels: map[string]string{"tenantcheck.io/run": "r1"}}
	spec := func(c LiveCheck) map[string]any {
		u := c.kustomization(crds, in, testPair)
		assert.Equal(t, "kustomize.toolkit.fluxcd.io/v1", u.GetAPIVersion())
		assert.Equal(t, testPair.A, u.GetNamespace())
		assert.Equal(t, in.Labels, u.GetLabels())
		s, _, _ := unstructured.NestedMap(u.Object, "spec")
		assert.Equal(t, false, s["prune"], "never prunes")
		return s
	}
	cross := spec(LiveChecks[0])
	assert.Equal(t, map[string]any{"kind": "ExternalArtifact", "name": sourceName, "namespace": testPair.B}, cross["sourceRef"])
	assert.Equal(t, testPair.A, cross["targetNamespace"], "content without a namespace lands in A")
	assert.Equal(t, "tenant-reconciler", cross["serviceAccountName"])
	imp := spec(LiveChecks[1])
	assert.Equal(t, map[string]any{"kind": "ExternalArtifact", "name": sourceName}, imp["sourceRef"])
	assert.Equal(t, "tenant-reconciler", imp["serviceAccountName"])
	assert.NotContains(t, imp, "targetNamespace")
	def := spec(LiveChecks[2])
	assert.NotContains(t, def, "serviceAccountName")
	assert.Equal(t, "./tc-flux-default-sa", def["path"])
}

// An audit without --flux-live runs the static checks only: the live ones
// are Skipped, saying how to opt in, and nothing is created.
func TestAuditWithoutFluxLiveCreatesNothing(t *testing.T) {
	dyn := fakeDynamic(
		crd("kustomizations.kustomize.toolkit.fluxcd.io", "v1"), crd("helmreleases.helm.toolkit.fluxcd.io", "v2"),
		crd("externalartifacts.source.toolkit.fluxcd.io", "v1"))
	cs := fake.NewClientset()
	in := Input{Tenants: []Tenant{{Name: "a", Namespaces: []string{"a"}}, {Name: "b", Namespaces: []string{"b"}}},
		Mode: model.ModeAudit, Outsider: "tc-x-outsider", Labels: map[string]string{"tenantcheck.io/run": "r1"}}
	got := map[string]model.Result{}
	for _, r := range run(context.Background(), env{cs: cs, dyn: dyn, repro: "kubectl"}, in) {
		got[r.CheckID] = r
	}
	for _, c := range LiveChecks {
		assert.Equal(t, model.VerdictSkipped, got[c.ID].Verdict, c.ID)
		assert.Contains(t, got[c.ID].Reason, "opt in with --flux-live", c.ID)
	}
	for _, a := range cs.Actions() {
		assert.NotEqual(t, "create", a.GetVerb(), "nothing created: %v", a)
	}
	for _, a := range dyn.Actions() {
		assert.NotEqual(t, "create", a.GetVerb(), "nothing created: %v", a)
	}
	assert.NotContains(t, Layer.Needs(model.ModeAudit), LivePermissions[0], "an audit's preflight does not ask for the live checks' rights")
	assert.Contains(t, Layer.Needs(model.ModeProvision), LivePermissions[0])
}
