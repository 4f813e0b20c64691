package quota

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/tenantcheck/tenantcheck/internal/model"
)

var podCount = check("pod-count-limit-enforced", "pod over the pod-count limit rejected",
	"with the namespace at its pod-count limit, one more pod is rejected at admission (the namespace is brought to its limit with a temporary quota of pods = pods in use, removed at once)", model.APIRejected)

const tempQuota = "tc-pod-count"

// tryPodCount brings the namespace to a pod-count limit without starting a
// pod: a temporary ResourceQuota whose pods limit is the number in use.
// Only in namespaces the run provisioned: in an audit it would change a
// real tenant's quota, even if briefly.
func tryPodCount(ctx context.Context, cs kubernetes.Interface, in Input, ns string) attempt {
	a := attempt{ns: ns, want: model.APIRejected, ev: model.Evidence{
		Action: "create a pod with the namespace at its pod-count limit (server dry-run)", To: ns, Attempts: 1,
		Repro: in.Kubectl(fmt.Sprintf("-n %s describe resourcequota", ns))}}
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		a.got, a.ev.Raw = model.APIError, "list pods: "+err.Error()
		return a
	}
	inUse := resource.MustParse(fmt.Sprint(len(pods.Items)))
	q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: tempQuota, Namespace: ns, Labels: in.Labels},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: inUse}}}
	if _, err := cs.CoreV1().ResourceQuotas(ns).Create(ctx, q, metav1.CreateOptions{}); err != nil {
		a.got, a.ev.Raw = model.APIError, "create the temporary quota: "+err.Error()
		return a
	}
	defer func() {
		_ = cs.CoreV1().ResourceQuotas(ns).Delete(context.Background(), tempQuota, metav1.DeleteOptions{})
	}()
	// Admission refuses everything until the quota controller has counted.
	_ = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		got, err := cs.CoreV1().ResourceQuotas(ns).Get(ctx, tempQuota, metav1.GetOptions{})
		return err == nil && got.Status.Used != nil, nil
	})
	// The quota admission plugin reads quotas from its own cache, and a
	// namespace it found without quota is remembered for a while: the new
	// quota may not be seen by admission yet although its status is set.
	// That lag is the test's own doing, not the tenant's, so the dry-run
	// is repeated (bounded, counted) until admission refuses; a pod still
	// admitted after admissionLag is Broken.
	small := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")}
	p := pod(ns, in.Image, &corev1.ResourceRequirements{Requests: small, Limits: small})
	a.ev.Attempts = 0
	_ = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, admissionLag, true, func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().Pods(ns).Create(ctx, p, dryRun)
		a.ev.Attempts++
		a.got, a.ev.Raw = Outcome(err)
		return a.got != model.APIAdmitted, nil
	})
	a.ev.Raw = fmt.Sprintf("%d pod(s) in use, limit %d, %d attempt(s): %s", len(pods.Items), len(pods.Items), a.ev.Attempts, a.ev.Raw)
	return a
}

// admissionLag bounds the wait for the quota admission plugin to see a
// quota the layer just created.
const admissionLag = 15 * time.Second
