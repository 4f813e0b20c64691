package quota

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func rl(kv ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		out[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return out
}

func quotaOf(name string, hard, used corev1.ResourceList) corev1.ResourceQuota {
	return corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ResourceQuotaSpec{Hard: hard}, Status: corev1.ResourceQuotaStatus{Hard: hard, Used: used}}
}

func rangeOf(items ...corev1.LimitRangeItem) corev1.LimitRange {
	return corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "lr"}, Spec: corev1.LimitRangeSpec{Limits: items}}
}

func sum(p overPlan, res corev1.ResourceName) (total int64, maxEach int64, minEach int64) {
	minEach = -1
	for _, c := range p.Containers {
		v := units(c.Requests[res], res)
		total += v
		maxEach = max(maxEach, v)
		if minEach < 0 || v < minEach {
			minEach = v
		}
		if units(c.Limits[res], res) != v {
			panic("limits differ from requests")
		}
	}
	return total, maxEach, minEach
}

func TestPlanOver(t *testing.T) {
	guideQuota := quotaOf("q", rl("requests.cpu", "8", "limits.cpu", "16", "requests.memory", "16Gi", "limits.memory", "32Gi", "pods", "100"), nil)
	t.Run("no LimitRange: one container just over the tightest key", func(t *testing.T) {
		p, why := planOver([]corev1.ResourceQuota{guideQuota}, nil, corev1.ResourceCPU)
		require.Empty(t, why)
		require.Len(t, p.Containers, 1)
		total, _, _ := sum(p, corev1.ResourceCPU)
		assert.Equal(t, int64(8001), total, "requests.cpu=8 is the tightest: ask 8001m")
		assert.Equal(t, corev1.ResourceName("requests.cpu"), p.Room.Key)
	})
	t.Run("usage counts: a tenant near its quota needs less", func(t *testing.T) {
		q := quotaOf("q", rl("requests.cpu", "4"), rl("requests.cpu", "3500m"))
		p, why := planOver([]corev1.ResourceQuota{q}, nil, corev1.ResourceCPU)
		require.Empty(t, why)
		total, _, _ := sum(p, corev1.ResourceCPU)
		assert.Equal(t, int64(501), total)
	})
	t.Run("a tenant over its quota still gets a refusable pod", func(t *testing.T) {
		q := quotaOf("q", rl("requests.cpu", "4"), rl("requests.cpu", "5"))
		p, why := planOver([]corev1.ResourceQuota{q}, nil, corev1.ResourceCPU)
		require.Empty(t, why)
		total, _, _ := sum(p, corev1.ResourceCPU)
		assert.Equal(t, int64(1), total)
	})
	t.Run("LimitRange max per container: spread over containers within max and min", func(t *testing.T) {
		lr := rangeOf(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer,
			Max: rl("cpu", "2", "memory", "1Gi"), Min: rl("cpu", "100m", "memory", "64Mi")})
		p, why := planOver([]corev1.ResourceQuota{guideQuota}, []corev1.LimitRange{lr}, corev1.ResourceCPU)
		require.Empty(t, why)
		total, most, least := sum(p, corev1.ResourceCPU)
		assert.Greater(t, total, int64(8000))
		assert.LessOrEqual(t, most, int64(2000))
		assert.GreaterOrEqual(t, least, int64(100))
		assert.Len(t, p.Containers, 5)
		for _, c := range p.Containers {
			mem := units(c.Requests[corev1.ResourceMemory], corev1.ResourceMemory)
			assert.GreaterOrEqual(t, mem, int64(64<<20), "the other resource respects the minimum")
		}
	})
	t.Run("too many containers needed: cannot tell", func(t *testing.T) {
		lr := rangeOf(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Max: rl("memory", "256Mi")})
		_, why := planOver([]corev1.ResourceQuota{guideQuota}, []corev1.LimitRange{lr}, corev1.ResourceMemory)
		assert.Contains(t, why, "containers")
	})
	t.Run("LimitRange pod max under the quota's room: cannot tell", func(t *testing.T) {
		lr := rangeOf(corev1.LimitRangeItem{Type: corev1.LimitTypePod, Max: rl("cpu", "4")})
		_, why := planOver([]corev1.ResourceQuota{guideQuota}, []corev1.LimitRange{lr}, corev1.ResourceCPU)
		assert.Contains(t, why, "one pod cannot exceed the quota")
	})
	t.Run("no quota caps it: no plan and no reason", func(t *testing.T) {
		p, why := planOver([]corev1.ResourceQuota{quotaOf("q", rl("pods", "10"), nil)}, nil, corev1.ResourceCPU)
		assert.Empty(t, why)
		assert.Nil(t, p.Containers)
	})
	t.Run("only a scoped quota caps it: cannot tell", func(t *testing.T) {
		q := quotaOf("q", rl("requests.cpu", "1"), nil)
		q.Spec.Scopes = []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeBestEffort}
		_, why := planOver([]corev1.ResourceQuota{q}, nil, corev1.ResourceCPU)
		assert.Contains(t, why, "scoped")
	})
	t.Run("the older plain key counts", func(t *testing.T) {
		p, why := planOver([]corev1.ResourceQuota{quotaOf("q", rl("memory", "1Gi"), nil)}, nil, corev1.ResourceMemory)
		require.Empty(t, why)
		total, _, _ := sum(p, corev1.ResourceMemory)
		assert.Equal(t, int64(1<<30+1<<20), total)
	})
}

func TestQuotaRefused(t *testing.T) {
	cpu := `pods "p" is forbidden: exceeded quota: q, requested: limits.cpu=9,requests.cpu=9, used: limits.cpu=0,requests.cpu=0, limited: limits.cpu=16,requests.cpu=8`
	assert.True(t, quotaRefused(cpu, corev1.ResourceCPU))
	assert.False(t, quotaRefused(cpu, corev1.ResourceMemory), "the refusal names only what was exceeded")
	assert.True(t, quotaRefused(`exceeded quota: q, requested: memory=2Gi, used: memory=0, limited: memory=1Gi`, corev1.ResourceMemory))
	assert.False(t, quotaRefused(`exceeded quota: q, requested: pods=1, used: pods=10, limited: pods=10`, corev1.ResourceCPU))
	assert.False(t, quotaRefused(`maximum cpu usage per Container is 2, but limit is 4`, corev1.ResourceCPU))
	assert.False(t, quotaRefused(`failed quota: q: must specify limits.cpu for: probe`, corev1.ResourceCPU))
}

func TestDefaultsMatch(t *testing.T) {
	guide := rangeOf(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer,
		Default: rl("cpu", "500m", "memory", "512Mi"), DefaultRequest: rl("cpu", "100m", "memory", "128Mi")})
	got := corev1.ResourceRequirements{Requests: rl("cpu", "100m", "memory", "128Mi"), Limits: rl("cpu", "500m", "memory", "512Mi")}
	assert.Empty(t, defaultsMatch([]corev1.LimitRange{guide}, got))
	// A quantity written differently is the same quantity.
	assert.Empty(t, defaultsMatch([]corev1.LimitRange{guide}, corev1.ResourceRequirements{
		Requests: rl("cpu", "0.1", "memory", "134217728"), Limits: rl("cpu", "500m", "memory", "512Mi")}))
	assert.Contains(t, defaultsMatch([]corev1.LimitRange{guide}, corev1.ResourceRequirements{}), "request cpu not set")
	assert.Contains(t, defaultsMatch([]corev1.LimitRange{guide}, corev1.ResourceRequirements{
		Requests: rl("cpu", "200m", "memory", "128Mi"), Limits: rl("cpu", "500m", "memory", "512Mi")}), "request cpu=200m")
	// Extra resources on the pod (ephemeral-storage from another item) are not a mismatch.
	withMore := got.DeepCopy()
	withMore.Limits["ephemeral-storage"] = resource.MustParse("1Gi")
	assert.Empty(t, defaultsMatch([]corev1.LimitRange{guide}, *withMore))
	// Two LimitRanges: either's value is the API server's to pick.
	other := rangeOf(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Default: rl("cpu", "1"), DefaultRequest: rl("cpu", "200m")})
	assert.Empty(t, defaultsMatch([]corev1.LimitRange{guide, other}, corev1.ResourceRequirements{
		Requests: rl("cpu", "200m", "memory", "128Mi"), Limits: rl("cpu", "1", "memory", "512Mi")}))
	assert.Contains(t, defaultsMatch(nil, got), "no LimitRange")
}

func TestApplies(t *testing.T) {
	q := quotaOf("q", rl("requests.cpu", "1"), nil)
	assert.True(t, applies(q))
	q.Spec.Scopes = []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeNotTerminating, corev1.ResourceQuotaScopeNotBestEffort}
	assert.True(t, applies(q))
	q.Spec.Scopes = []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeTerminating}
	assert.False(t, applies(q))
	q.Spec.Scopes = nil
	q.Spec.ScopeSelector = &corev1.ScopeSelector{MatchExpressions: []corev1.ScopedResourceSelectorRequirement{
		{ScopeName: corev1.ResourceQuotaScopePriorityClass, Operator: corev1.ScopeSelectorOpIn, Values: []string{"high"}}}}
	assert.False(t, applies(q))
}
