package quota

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

// overQuota asks for just more of res than the tightest quota has left,
// within the LimitRange's bounds (see planOver). Only the quota's refusal
// for res is Rejected. An admitted pod is Broken only if it still exceeds
// the quota's room when the quota is read again: a tenant's pod that ended
// in between frees room, and the try is then made again with the new figure.
func overQuota(ctx context.Context, cs kubernetes.Interface, in Input, ns string, quotas []corev1.ResourceQuota, ranges []corev1.LimitRange, res corev1.ResourceName) attempt {
	a := attempt{ns: ns, want: model.APIRejected, ev: model.Evidence{
		Action: fmt.Sprintf("create a pod over the %s quota (server dry-run)", res), To: ns,
		Repro: in.Kubectl("describe resourcequota -n " + ns)}}
	for try := 1; try <= 3; try++ {
		plan, why := planOver(quotas, ranges, res)
		switch {
		case why != "":
			a.got, a.note, a.ev.Raw = model.APIError, "cannot tell: "+why, why
			return a
		case plan.Containers == nil:
			a.got, a.ev.Raw = model.APIAdmitted, "no ResourceQuota caps "+string(res)
			a.note = "no ResourceQuota caps " + string(res) + ": nothing refuses a pod for asking too much"
			return a
		}
		p := overPod(ns, in.Image, plan.Containers)
		a.ev.Action = fmt.Sprintf("create a pod asking for %s %s in %d container(s), over %s (server dry-run)", res, plan.Ask.String(), len(plan.Containers), plan.Room)
		a.ev.Repro = repro(in, p)
		a.ev.Attempts = try
		_, err := cs.CoreV1().Pods(ns).Create(ctx, p, dryRun)
		if err != nil {
			a.got, a.ev.Raw, a.note = refusal(err, res)
			return a
		}
		again, err := cs.CoreV1().ResourceQuotas(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			a.got, a.ev.Raw = model.APIError, "admitted; then list resourcequotas: "+err.Error()
			a.note = a.ev.Raw
			return a
		}
		now, ok, _ := tightest(again.Items, res)
		if ok && units(plan.Ask, res) > now.left(res) {
			a.got = model.APIAdmitted
			a.ev.Raw = fmt.Sprintf("admitted, although the quota has %s left (%s)", qstr(now.left(res), res), now)
			a.note = fmt.Sprintf("a pod asking for %s %s was admitted over %s", res, plan.Ask.String(), now)
			return a
		}
		quotas = again.Items // room was freed meanwhile: ask again
	}
	a.got, a.note = model.APIError, "the quota's room kept growing while the pod was tried (3 tries): the tenant's pods are ending"
	a.ev.Raw = a.note
	return a
}

// refusal reads the answer to the over-quota pod: Rejected only when the
// quota refused it for res; any other refusal proves nothing about the
// quota for res and is an Error that says who refused.
func refusal(err error, res corev1.ResourceName) (model.APIOutcome, string, string) {
	got, raw := kube.Classify(err)
	switch {
	case got == model.APIRejected && quotaRefused(err.Error(), res):
		return model.APIRejected, raw, ""
	case got == model.APIForbidden:
		return model.APIError, raw, "the runner may not create pods here: " + raw
	case got == model.APIRejected && quotaRefusal(err.Error()):
		return model.APIError, raw, "refused by the quota or LimitRange, but not for exceeding " + string(res) + ": " + raw
	case got == model.APIRejected:
		return model.APIError, raw, "refused by another admission plugin, not by the quota: " + raw
	}
	return model.APIError, raw, "not admitted, and not refused by the quota: " + raw
}

// overPod is the restricted pod with one container per set of resources.
func overPod(ns, image string, containers []corev1.ResourceRequirements) *corev1.Pod {
	p := pod(ns, image, &containers[0])
	base := p.Spec.Containers[0]
	for i, res := range containers[1:] {
		c := *base.DeepCopy()
		c.Name = fmt.Sprintf("%s-%d", base.Name, i+2)
		c.Resources = res
		p.Spec.Containers = append(p.Spec.Containers, c)
	}
	return p
}

// tryDefaults submits a pod without resources and compares what the API
// server would store with the LimitRange's defaults. A tenant too full to
// admit even that pod cannot tell: Error "tenant at quota", never Broken.
func tryDefaults(ctx context.Context, cs kubernetes.Interface, in Input, ns string, ranges []corev1.LimitRange) attempt {
	p := pod(ns, in.Image, nil)
	created, err := cs.CoreV1().Pods(ns).Create(ctx, p, dryRun)
	a := attempt{ns: ns, want: model.APIAdmitted, ev: model.Evidence{Action: "create pod without resources (server dry-run)", To: ns, Attempts: 1, Repro: repro(in, p)}}
	got, msg := kube.Classify(err)
	a.got, a.ev.Raw = got, msg
	switch {
	case err == nil:
	case strings.Contains(err.Error(), "exceeded quota"):
		a.got, a.note = model.APIError, "tenant at quota: the pod the LimitRange fills in does not fit what the quota has left, so the defaults cannot be seen: "+msg
		return a
	case got == model.APIRejected && quotaRefusal(err.Error()):
		a.note = "a pod without resources is refused: " + msg // e.g. the quota asks for a resource no LimitRange defaults
		return a
	case got == model.APIForbidden:
		a.got, a.note = model.APIError, "the runner may not create pods here: "+msg
		return a
	default:
		a.got, a.note = model.APIError, "not admitted, and not for the quota or LimitRange: "+msg
		return a
	}
	res := created.Spec.Containers[0].Resources
	a.ev.Raw = fmt.Sprintf("defaulted to requests %s, limits %s", list(res.Requests), list(res.Limits))
	if off := defaultsMatch(ranges, res); off != "" {
		a.got = model.APIRejected // not what the LimitRange declares: the defaults did not apply
		a.note = "pod admitted without the LimitRange's defaults (" + off + "): " + a.ev.Raw
	}
	return a
}

func list(r corev1.ResourceList) string {
	if len(r) == 0 {
		return "none"
	}
	return fmt.Sprintf("cpu=%s memory=%s", r.Cpu(), r.Memory())
}
