package quota

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/tenantcheck/tenantcheck/internal/kube"
	"github.com/tenantcheck/tenantcheck/internal/model"
)

var dryRun = metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}

// pod is the restricted probe pod with the given resources (nil: none).
func pod(ns, image string, res *corev1.ResourceRequirements) *corev1.Pod {
	return kube.RestrictedPod(kube.PodOptions{Namespace: ns, Name: "tc-quota-probe", Image: image, Resources: res, NoResources: res == nil})
}

func repro(in Input, p *corev1.Pod) string {
	b, _ := json.Marshal(p)
	return fmt.Sprintf("echo '%s' | %s", b, in.Kubectl("create --dry-run=server -f -"))
}

// overQuota asks for more of one resource than any quota of the namespace
// allows in all (hard + 1), or for huge when there is no quota at all.
func overQuota(ctx context.Context, cs kubernetes.Interface, in Input, ns string, quotas []corev1.ResourceQuota, r corev1.ResourceName, huge resource.Quantity) attempt {
	ask := huge.DeepCopy()
	for _, q := range quotas {
		for _, key := range []corev1.ResourceName{"requests." + r, "limits." + r, r} {
			if h, ok := q.Spec.Hard[key]; ok && h.Cmp(ask) < 0 {
				ask = h.DeepCopy()
				ask.Add(resource.MustParse("1"))
			}
		}
	}
	small := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")}
	req := small.DeepCopy()
	req[r] = ask
	p := pod(ns, in.Image, &corev1.ResourceRequirements{Requests: req, Limits: req})
	_, err := cs.CoreV1().Pods(ns).Create(ctx, p, dryRun)
	got, msg := Outcome(err)
	return attempt{ns: ns, want: model.APIRejected, got: got, ev: model.Evidence{
		Action: fmt.Sprintf("create pod requesting %s %s (server dry-run)", r, ask.String()), To: ns, Raw: msg, Attempts: 1, Repro: repro(in, p)}}
}

// tryDefaults submits a pod without resources and compares what the API
// server would store with the LimitRange's defaults.
func tryDefaults(ctx context.Context, cs kubernetes.Interface, in Input, ns string, ranges []corev1.LimitRange) attempt {
	p := pod(ns, in.Image, nil)
	created, err := cs.CoreV1().Pods(ns).Create(ctx, p, dryRun)
	a := attempt{ns: ns, want: model.APIAdmitted, ev: model.Evidence{Action: "create pod without resources (server dry-run)", To: ns, Attempts: 1, Repro: repro(in, p)}}
	got, msg := Outcome(err)
	a.got, a.ev.Raw = got, msg
	if err != nil {
		return a
	}
	res := created.Spec.Containers[0].Resources
	a.ev.Raw = fmt.Sprintf("defaulted to requests %s, limits %s", list(res.Requests), list(res.Limits))
	want := containerDefaults(ranges)
	if want == nil || !equal(want.DefaultRequest, res.Requests) || !equal(want.Default, res.Limits) {
		a.got = model.APIRejected // not what the LimitRange declares: the defaults did not apply
		a.note = "pod admitted without the LimitRange's defaults: " + a.ev.Raw
	}
	return a
}

func containerDefaults(ranges []corev1.LimitRange) *corev1.LimitRangeItem {
	for _, lr := range ranges {
		for i, item := range lr.Spec.Limits {
			if item.Type == corev1.LimitTypeContainer && len(item.Default) > 0 {
				return &lr.Spec.Limits[i]
			}
		}
	}
	return nil
}

func equal(a, b corev1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || v.Cmp(w) != 0 {
			return false
		}
	}
	return true
}

func list(r corev1.ResourceList) string {
	if len(r) == 0 {
		return "none"
	}
	return fmt.Sprintf("cpu=%s memory=%s", r.Cpu(), r.Memory())
}

// tryEdits: each tenant service account tries to update (a merge patch) and
// delete the namespace's quota and LimitRange, all with dry-run.
func tryEdits(ctx context.Context, in Input, ns string, quotas []corev1.ResourceQuota, ranges []corev1.LimitRange) []attempt {
	qName, lName := "tenant-quota", "tenant-defaults"
	if len(quotas) > 0 {
		qName = quotas[0].Name
	}
	if len(ranges) > 0 {
		lName = ranges[0].Name
	}
	patch := []byte(`{"metadata":{"labels":{"tenantcheck.io/probe":"edit"}}}`)
	var out []attempt
	for _, sa := range []string{"tenant-reconciler", "default"} {
		as := fmt.Sprintf("system:serviceaccount:%s:%s", ns, sa)
		cs, err := in.AsServiceAccount(ctx, ns, sa)
		if err != nil {
			out = append(out, attempt{ns: ns, want: model.APIForbidden, got: model.APIError, ev: model.Evidence{Action: "get a token", From: as, Raw: err.Error(), Attempts: 1}})
			continue
		}
		calls := []struct {
			what string
			do   func() error
		}{
			{"patch resourcequota " + qName, func() error {
				_, err := cs.CoreV1().ResourceQuotas(ns).Patch(ctx, qName, types.MergePatchType, patch, metav1.PatchOptions{DryRun: dryRun.DryRun})
				return err
			}},
			{"delete resourcequota " + qName, func() error {
				return cs.CoreV1().ResourceQuotas(ns).Delete(ctx, qName, metav1.DeleteOptions{DryRun: dryRun.DryRun})
			}},
			{"patch limitrange " + lName, func() error {
				_, err := cs.CoreV1().LimitRanges(ns).Patch(ctx, lName, types.MergePatchType, patch, metav1.PatchOptions{DryRun: dryRun.DryRun})
				return err
			}},
			{"delete limitrange " + lName, func() error {
				return cs.CoreV1().LimitRanges(ns).Delete(ctx, lName, metav1.DeleteOptions{DryRun: dryRun.DryRun})
			}},
		}
		for _, c := range calls {
			got, msg := Outcome(c.do())
			verb, res, _ := cut3(c.what)
			out = append(out, attempt{ns: ns, want: model.APIForbidden, got: got, ev: model.Evidence{
				Action: c.what + " (dry-run, with a real token)", From: as, To: ns, Raw: msg, Attempts: 1,
				Repro: in.Kubectl(fmt.Sprintf("auth can-i %s %s -n %s --as=%s", verb, res, ns, as))}})
		}
	}
	return out
}

func cut3(s string) (string, string, string) {
	var a, b, c string
	fmt.Sscan(s, &a, &b, &c)
	return a, b, c
}
