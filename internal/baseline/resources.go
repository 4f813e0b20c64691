package baseline

import (
	"maps"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// QuotaName is the name of a tenant's ResourceQuota, e.g. "tenant-a-quota".
func QuotaName(tenant string) string { return tenant + "-quota" }

// LimitRangeName is the name of a tenant's LimitRange, e.g. "tenant-a-defaults".
func LimitRangeName(tenant string) string { return tenant + "-defaults" }

// namespaceLabels are the labels the guide puts on a tenant namespace: the
// tenant label and Pod Security Admission restricted in all three modes.
func namespaceLabels(p Params) map[string]string {
	l := map[string]string{
		p.TenantLabel:   p.Tenant,
		LabelPSAEnforce: PSARestricted,
		LabelPSAAudit:   PSARestricted,
		LabelPSAWarn:    PSARestricted,
	}
	if p.PSAVersion != "" {
		l[LabelPSAEnforceVersion] = p.PSAVersion
	}
	return l
}

func tenantNamespace(p Params) *corev1.Namespace {
	labels := maps.Clone(p.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	maps.Copy(labels, namespaceLabels(p))
	return &corev1.Namespace{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: objectMeta(p.Namespace, "", labels),
	}
}

// Quantities are built, not parsed, so no Must* call can panic.
const (
	gi = 1 << 30
	mi = 1 << 20
)

func resourceQuota(p Params) *corev1.ResourceQuota {
	return &corev1.ResourceQuota{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ResourceQuota"},
		ObjectMeta: objectMeta(QuotaName(p.Tenant), p.Namespace, p.Labels),
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
			corev1.ResourceRequestsCPU:            *resource.NewQuantity(8, resource.DecimalSI),
			corev1.ResourceRequestsMemory:         *resource.NewQuantity(16*gi, resource.BinarySI),
			corev1.ResourceLimitsCPU:              *resource.NewQuantity(16, resource.DecimalSI),
			corev1.ResourceLimitsMemory:           *resource.NewQuantity(32*gi, resource.BinarySI),
			corev1.ResourcePods:                   *resource.NewQuantity(100, resource.DecimalSI),
			corev1.ResourcePersistentVolumeClaims: *resource.NewQuantity(20, resource.DecimalSI),
		}},
	}
}

func limitRange(p Params) *corev1.LimitRange {
	return &corev1.LimitRange{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "LimitRange"},
		ObjectMeta: objectMeta(LimitRangeName(p.Tenant), p.Namespace, p.Labels),
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type: corev1.LimitTypeContainer,
			DefaultRequest: corev1.ResourceList{
				corev1.ResourceCPU:    *resource.NewMilliQuantity(100, resource.DecimalSI),
				corev1.ResourceMemory: *resource.NewQuantity(128*mi, resource.BinarySI),
			},
			Default: corev1.ResourceList{
				corev1.ResourceCPU:    *resource.NewMilliQuantity(500, resource.DecimalSI),
				corev1.ResourceMemory: *resource.NewQuantity(512*mi, resource.BinarySI),
			},
		}}},
	}
}
