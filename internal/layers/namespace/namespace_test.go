package namespace

import (
	"context"
	"maps"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/tenantcheck/tenantcheck/internal/kube"
	"github.com/tenantcheck/tenantcheck/internal/layer"
	"github.com/tenantcheck/tenantcheck/internal/model"
)

const tenantKey = "tenant.platform.example/name"

// guideLabels are the guide's Pod Security labels with enforce-version
// pinned, as provision mode writes them.
func guideLabels() map[string]string {
	return map[string]string{
		"pod-security.kubernetes.io/enforce":         "restricted",
		"pod-security.kubernetes.io/audit":           "restricted",
		"pod-security.kubernetes.io/warn":            "restricted",
		"pod-security.kubernetes.io/enforce-version": "v1.37",
	}
}

func TestPSAFinding(t *testing.T) {
	with := func(k, v string) map[string]string {
		l := guideLabels()
		l[k] = v
		return l
	}
	without := func(k string) map[string]string {
		l := guideLabels()
		delete(l, k)
		return l
	}
	tests := []struct {
		name   string
		labels map[string]string
		want   []string // empty: no finding
	}{
		{"guide, pinned", guideLabels(), nil},
		{"privileged is a level", with("pod-security.kubernetes.io/enforce", "privileged"), nil},
		// Unpinned, the policy follows every control-plane upgrade.
		{"no enforce-version", without("pod-security.kubernetes.io/enforce-version"), []string{"no pod-security.kubernetes.io/enforce-version"}},
		{"latest", with("pod-security.kubernetes.io/enforce-version", "latest"), []string{`"latest" is not pinned`}},
		{"patch version", with("pod-security.kubernetes.io/enforce-version", "v1.37.2"), []string{"is not pinned"}},
		// The API server rejects such a label value, but a namespace
		// created before Pod Security admission existed may still carry one.
		{"capital level", with("pod-security.kubernetes.io/enforce", "Restricted"), []string{`"Restricted" is not a Pod Security level`}},
		{"no warn", without("pod-security.kubernetes.io/warn"), []string{"no pod-security.kubernetes.io/warn"}},
		{"nothing", nil, []string{"no pod-security.kubernetes.io/enforce", "no pod-security.kubernetes.io/audit",
			"no pod-security.kubernetes.io/warn", "no pod-security.kubernetes.io/enforce-version"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := psaFinding(tt.labels)
			if len(tt.want) == 0 {
				assert.Empty(t, got)
				return
			}
			for _, s := range tt.want {
				assert.Contains(t, got, s)
			}
		})
	}
}

func tenantNamespace(name, tenant string) *corev1.Namespace {
	labels := guideLabels()
	labels[tenantKey] = tenant
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

func defaultPod(name string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: DefaultNamespace, Labels: maps.Clone(labels)}}
}

func env(client *kube.Client) *layer.Env {
	return &layer.Env{
		Client: client,
		Roster: model.Roster{TenantLabel: tenantKey, Members: []model.Member{
			{Namespace: "a", Tenant: "tenant-a", Role: model.RoleTenant},
			{Namespace: "b", Tenant: "tenant-b", Role: model.RoleTenant},
		}},
		Say: func(string, ...any) {},
	}
}

func TestRun(t *testing.T) {
	const (
		label  = "namespace/tenant-label"
		psa    = "namespace/pod-security-labels-pinned"
		inDflt = "namespace/no-tenant-workload-in-default"
		partOf = "app.kubernetes.io/part-of"
	)
	unpinned := tenantNamespace("b", "tenant-b")
	delete(unpinned.Labels, "pod-security.kubernetes.io/enforce-version")
	unlabelled := tenantNamespace("b", "tenant-b")
	delete(unlabelled.Labels, tenantKey)
	tests := []struct {
		name string
		objs []runtime.Object
		want map[string]model.Verdict
		// reason: check ID to substrings of its reason.
		reason map[string][]string
	}{
		{"guide", []runtime.Object{tenantNamespace("a", "tenant-a"), tenantNamespace("b", "tenant-b"), defaultPod("web", nil)},
			map[string]model.Verdict{label: model.VerdictHeld, psa: model.VerdictHeld, inDflt: model.VerdictHeld}, nil},
		// Another tenant's name on b would let tenant-a's policies select it.
		{"b names tenant-a", []runtime.Object{tenantNamespace("a", "tenant-a"), tenantNamespace("b", "tenant-a")},
			map[string]model.Verdict{label: model.VerdictBroken, psa: model.VerdictHeld, inDflt: model.VerdictHeld},
			map[string][]string{label: {`b: ` + tenantKey + `="tenant-a"`, `tenant "tenant-b"`}}},
		{"b has no tenant label", []runtime.Object{tenantNamespace("a", "tenant-a"), unlabelled},
			map[string]model.Verdict{label: model.VerdictBroken},
			map[string][]string{label: {"b: no label " + tenantKey}}},
		{"b unpinned", []runtime.Object{tenantNamespace("a", "tenant-a"), unpinned},
			map[string]model.Verdict{label: model.VerdictHeld, psa: model.VerdictBroken},
			map[string][]string{psa: {"b: no pod-security.kubernetes.io/enforce-version"}}},
		{"tenant pod in default", []runtime.Object{tenantNamespace("a", "tenant-a"), tenantNamespace("b", "tenant-b"),
			defaultPod("web", nil), defaultPod("shop", map[string]string{partOf: "tenant-b"})},
			map[string]model.Verdict{label: model.VerdictHeld, psa: model.VerdictHeld, inDflt: model.VerdictBroken},
			map[string][]string{inDflt: {"pod shop (" + partOf + "=tenant-b)"}}},
		{"tenant label on a pod in default", []runtime.Object{tenantNamespace("a", "tenant-a"), tenantNamespace("b", "tenant-b"),
			defaultPod("job", map[string]string{tenantKey: "tenant-a"})},
			map[string]model.Verdict{inDflt: model.VerdictBroken},
			map[string][]string{inDflt: {"pod job"}}},
		// Only a tenant of the roster counts: part-of names many things.
		{"part-of something else", []runtime.Object{tenantNamespace("a", "tenant-a"), tenantNamespace("b", "tenant-b"),
			defaultPod("web", map[string]string{partOf: "monitoring"})},
			map[string]model.Verdict{inDflt: model.VerdictHeld}, nil},
		// The namespaces could not be read: their checks say so, and the
		// default check still runs.
		{"namespace missing", []runtime.Object{tenantNamespace("a", "tenant-a")},
			map[string]model.Verdict{label: model.VerdictError, psa: model.VerdictError, inDflt: model.VerdictHeld},
			map[string][]string{label: {"read namespace b"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := Layer.Run(context.Background(), env(&kube.Client{Clientset: fake.NewClientset(tt.objs...)}))
			var ids []string
			for _, r := range out.Results {
				ids = append(ids, r.CheckID)
			}
			assert.Equal(t, []string{label, psa, inDflt}, ids, "one result per check, in report order")
			byID := map[string]model.Result{}
			for _, r := range out.Results {
				byID[r.CheckID] = r
			}
			for id, v := range tt.want {
				assert.Equal(t, v, byID[id].Verdict, "%s: %s", id, byID[id].Reason)
			}
			for id, subs := range tt.reason {
				for _, s := range subs {
					assert.Contains(t, byID[id].Reason, s, id)
				}
			}
		})
	}
}

// A repro command must reach the cluster that was checked, not the
// reader's current context.
func TestRunRepro(t *testing.T) {
	objs := []runtime.Object{tenantNamespace("a", "tenant-a"), tenantNamespace("b", "tenant-b")}
	tests := []struct {
		name   string
		client *kube.Client
		want   string
	}{
		{"no kubeconfig known", &kube.Client{Clientset: fake.NewClientset(objs...)}, "kubectl "},
		{"kubeconfig and context", &kube.Client{Clientset: fake.NewClientset(objs...), Kubeconfig: "/k", Context: "c"},
			"kubectl --kubeconfig /k --context c "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := Layer.Run(context.Background(), env(tt.client))
			require.Len(t, out.Results, 3)
			for _, r := range out.Results {
				require.NotEmpty(t, r.Evidence, r.CheckID)
				for _, e := range r.Evidence {
					assert.True(t, strings.HasPrefix(e.Repro, tt.want), "%s: %q", r.CheckID, e.Repro)
				}
			}
		})
	}
}
