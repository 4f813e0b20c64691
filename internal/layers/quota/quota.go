// Package quota is the ResourceQuota and LimitRange layer: it reads what each
// tenant namespace declares, then tries, with server-side dry-run, to take
// more than the quota allows and to run a pod without resources, and checks
// that the tenant's own service accounts cannot loosen either object.
package quota

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tenantcheck/tenantcheck/internal/model"
)

// Input: the tenant namespaces, and a way to act as a tenant's service account.
type Input struct {
	Namespaces []string
	Image      string
	// AsServiceAccount returns a client authenticated as ns/sa with a real token.
	AsServiceAccount func(ctx context.Context, ns, sa string) (kubernetes.Interface, error)
	// Provisioned: the namespaces are the run's own test tenants, so a
	// temporary quota may be added to them (the pod-count check).
	Provisioned bool
	Labels      map[string]string
}

func check(id, name, desc string, want model.APIOutcome) model.Check {
	return model.Check{ID: "quota/" + id, Layer: model.LayerQuota, Name: name, Description: desc, Expected: model.ExpectAPI(want)}
}

var (
	quotaExists = check("resourcequota-present", "ResourceQuota caps CPU, memory and pods",
		"every tenant namespace has a ResourceQuota with hard requests/limits for cpu and memory, and pods", model.APIAdmitted)
	limitRangeExists = check("limitrange-present", "LimitRange sets container defaults",
		"every tenant namespace has a LimitRange with default requests and limits for containers", model.APIAdmitted)
	overCPU = check("over-quota-cpu-rejected", "pod over the CPU quota rejected",
		"a pod asking for more CPU than the quota has left is rejected at admission", model.APIRejected)
	overMemory = check("over-quota-memory-rejected", "pod over the memory quota rejected",
		"a pod asking for more memory than the quota has left is rejected at admission", model.APIRejected)
	defaults = check("limitrange-defaults-applied", "pod without resources gets the defaults",
		"a pod that declares no resources is admitted with the LimitRange's default requests and limits", model.APIAdmitted)
	tenantEdits = check("tenant-cannot-edit-quota", "tenant cannot loosen its quota or LimitRange",
		"the tenant's service accounts (tenant-reconciler, default) may neither update nor delete the namespace's ResourceQuota or LimitRange", model.APIForbidden)
)

// Run tries every check in every tenant namespace.
func Run(ctx context.Context, cs kubernetes.Interface, in Input) []model.Result {
	var q presence
	var l presence
	var cpu, mem, def, edits, count results
	for _, ns := range in.Namespaces {
		quotas, err := cs.CoreV1().ResourceQuotas(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return errored(fmt.Sprintf("list resourcequotas in %s: %v", ns, err))
		}
		ranges, err := cs.CoreV1().LimitRanges(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return errored(fmt.Sprintf("list limitranges in %s: %v", ns, err))
		}
		q.add(ns, quotaFinding(quotas.Items))
		l.add(ns, limitRangeFinding(ranges.Items))
		cpu.add(overQuota(ctx, cs, in, ns, quotas.Items, corev1.ResourceCPU, resource.MustParse("1000")))
		mem.add(overQuota(ctx, cs, in, ns, quotas.Items, corev1.ResourceMemory, resource.MustParse("4Ti")))
		def.add(tryDefaults(ctx, cs, in, ns, ranges.Items))
		if in.Provisioned {
			count.add(tryPodCount(ctx, cs, in, ns))
		}
		for _, e := range tryEdits(ctx, in, ns, quotas.Items, ranges.Items) {
			edits.add(e)
		}
	}
	return []model.Result{
		q.result(quotaExists, "ResourceQuota"), l.result(limitRangeExists, "LimitRange"),
		cpu.result(overCPU), mem.result(overMemory), count.resultOrSkip(podCount, "an audit does not change a real tenant's quota, even briefly"),
		def.result(defaults), edits.result(tenantEdits),
	}
}

// quotaFinding says what the namespace's quotas fail to cap ("" when all is capped).
func quotaFinding(quotas []corev1.ResourceQuota) string {
	if len(quotas) == 0 {
		return "no ResourceQuota"
	}
	need := []corev1.ResourceName{corev1.ResourceRequestsCPU, corev1.ResourceRequestsMemory, corev1.ResourceLimitsCPU, corev1.ResourceLimitsMemory, corev1.ResourcePods}
	var missing []string
	for _, r := range need {
		found := false
		for _, q := range quotas {
			if _, ok := q.Spec.Hard[r]; ok {
				found = true
			}
		}
		if !found {
			missing = append(missing, string(r))
		}
	}
	if len(missing) > 0 {
		return "ResourceQuota does not cap " + strings.Join(missing, ", ")
	}
	return ""
}

func limitRangeFinding(ranges []corev1.LimitRange) string {
	for _, lr := range ranges {
		for _, item := range lr.Spec.Limits {
			if item.Type == corev1.LimitTypeContainer && len(item.Default) > 0 && len(item.DefaultRequest) > 0 {
				return ""
			}
		}
	}
	if len(ranges) == 0 {
		return "no LimitRange"
	}
	return "LimitRange sets no container default and defaultRequest"
}

// outcome classifies an answer of the API server: a quota or LimitRange
// refusal is Rejected (admission), any other 403 is Forbidden (RBAC).
func outcome(err error) (model.APIOutcome, string) {
	switch {
	case err == nil:
		return model.APIAdmitted, "admitted"
	case apierrors.IsForbidden(err) && (strings.Contains(err.Error(), "exceeded quota") || strings.Contains(err.Error(), "must specify")):
		return model.APIRejected, err.Error()
	case apierrors.IsForbidden(err):
		return model.APIForbidden, err.Error()
	case apierrors.IsNotFound(err):
		// Authorization comes before the lookup: a 404 means the request was allowed.
		return model.APIAdmitted, "allowed (the object does not exist): " + err.Error()
	}
	return model.APIError, err.Error()
}

func errored(reason string) []model.Result {
	var out []model.Result
	for _, c := range []model.Check{quotaExists, limitRangeExists, overCPU, overMemory, podCount, defaults, tenantEdits} {
		out = append(out, c.Result(model.Errored(reason)))
	}
	return out
}
