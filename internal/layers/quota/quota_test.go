package quota

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/tenantcheck/tenantcheck/internal/baseline"
	"github.com/tenantcheck/tenantcheck/internal/model"
)

func forbidden(resource, msg string) error {
	return apierrors.NewForbidden(schema.GroupResource{Resource: resource}, "x", errors.New(msg))
}

func TestOutcome(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want model.APIOutcome
		raw  string
	}{
		{"admitted", nil, model.APIAdmitted, "admitted"},
		{"quota exceeded", forbidden("pods",
			"exceeded quota: tenant-a-quota, requested: requests.cpu=1k, used: requests.cpu=0, limited: requests.cpu=8"), model.APIRejected, "exceeded quota"},
		{"quota needs limits", forbidden("pods", "failed quota: tenant-a-quota: must specify limits.cpu for: probe"), model.APIRejected, "failed quota"},
		{"limit range maximum", forbidden("pods", "maximum cpu usage per Container is 2, but limit is 4"), model.APIRejected, "usage per Container"},
		// Pod Security answered first, so the quota was never asked: the
		// try proves nothing about the quota either way.
		{"pod security refuses", forbidden("pods", `violates PodSecurity "restricted:latest": privileged`), model.APIError, "another admission plugin"},
		// The tenant's own account may not touch the quota: what the
		// tenant-cannot-edit check wants.
		{"authoriser refuses", forbidden("resourcequotas",
			`User "system:serviceaccount:a:default" cannot patch resource "resourcequotas" in API group "" in the namespace "a"`), model.APIForbidden, "cannot patch"},
		// A 404 comes after authorisation: the request was allowed.
		{"not found", apierrors.NewNotFound(schema.GroupResource{Resource: "resourcequotas"}, "x"), model.APIAdmitted, "404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, raw := Outcome(tt.err)
			assert.Equal(t, tt.want, got)
			assert.Contains(t, raw, tt.raw)
		})
	}
}

// guide returns the guide's ResourceQuota and LimitRange for tenant-a.
func guide(t *testing.T) (*corev1.ResourceQuota, *corev1.LimitRange) {
	t.Helper()
	objs, err := baseline.ForTenant(baseline.Params{
		Tenant: "tenant-a", Namespace: "tenant-a-prod", TenantLabel: "tenant.platform.example/name",
		DNSNamespace: "kube-system", DNSPodLabels: map[string]string{"k8s-app": "kube-dns"},
	})
	require.NoError(t, err)
	return objs.ResourceQuota, objs.LimitRange
}

func TestQuotaFinding(t *testing.T) {
	q, _ := guide(t)
	without := func(names ...corev1.ResourceName) corev1.ResourceQuota {
		out := *q.DeepCopy()
		for _, n := range names {
			delete(out.Spec.Hard, n)
		}
		return out
	}
	only := func(names ...corev1.ResourceName) corev1.ResourceQuota {
		out := corev1.ResourceQuota{Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{}}}
		for _, n := range names {
			out.Spec.Hard[n] = resource.MustParse("1")
		}
		return out
	}
	tests := []struct {
		name   string
		quotas []corev1.ResourceQuota
		want   string // "" means capped; else a substring of the finding
	}{
		{"guide", []corev1.ResourceQuota{*q}, ""},
		{"none", nil, "no ResourceQuota"},
		{"no pod cap", []corev1.ResourceQuota{without(corev1.ResourcePods)}, "does not cap pods"},
		{"no limits", []corev1.ResourceQuota{without(corev1.ResourceLimitsCPU, corev1.ResourceLimitsMemory)}, "does not cap limits.cpu, limits.memory"},
		// Caps spread over several quotas still cap the namespace.
		{"split over two quotas", []corev1.ResourceQuota{
			only(corev1.ResourceRequestsCPU, corev1.ResourceRequestsMemory),
			only(corev1.ResourceLimitsCPU, corev1.ResourceLimitsMemory, corev1.ResourcePods)}, ""},
		// A quota that counts pods leaves compute unbounded.
		{"only object counts", []corev1.ResourceQuota{only(corev1.ResourcePods)}, "does not cap requests.cpu, requests.memory, limits.cpu, limits.memory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := quotaFinding(tt.quotas)
			if tt.want == "" {
				assert.Empty(t, got)
				return
			}
			assert.Contains(t, got, tt.want)
		})
	}
}

func TestLimitRangeFinding(t *testing.T) {
	_, lr := guide(t)
	edit := func(f func(*corev1.LimitRangeItem)) corev1.LimitRange {
		out := *lr.DeepCopy()
		f(&out.Spec.Limits[0])
		return out
	}
	podOnly := edit(func(i *corev1.LimitRangeItem) { i.Type = corev1.LimitTypePod })
	tests := []struct {
		name   string
		ranges []corev1.LimitRange
		want   string
	}{
		{"guide", []corev1.LimitRange{*lr}, ""},
		{"none", nil, "no LimitRange"},
		{"no default", []corev1.LimitRange{edit(func(i *corev1.LimitRangeItem) { i.Default = nil })}, "sets no container default"},
		{"no default request", []corev1.LimitRange{edit(func(i *corev1.LimitRangeItem) { i.DefaultRequest = nil })}, "sets no container default"},
		// Pods have no defaults: only a Container item fills a pod in.
		{"pod item", []corev1.LimitRange{podOnly}, "sets no container default"},
		{"one good among several", []corev1.LimitRange{podOnly, *lr}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := limitRangeFinding(tt.ranges)
			if tt.want == "" {
				assert.Empty(t, got)
				return
			}
			assert.Contains(t, got, tt.want)
		})
	}
}
