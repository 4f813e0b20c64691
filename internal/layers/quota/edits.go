package quota

import (
	"context"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/tenantcheck/tenantcheck/internal/kube"
	"github.com/tenantcheck/tenantcheck/internal/model"
)

// nothing is a label selector no object carries: a deletecollection sent
// with it would remove nothing even without dry-run. Authorisation is for
// the verb, whatever the selector.
const nothing = "tenantcheck.io/selects=nothing"

// edit is one way of loosening the quota or the LimitRange.
type edit struct {
	verb, resource, sub string // as `kubectl auth can-i` names them
	what                string // e.g. "update (PUT) resourcequota tenant-a-quota"
	do                  func(ctx context.Context, cs kubernetes.Interface) error
}

// edits are every mutating verb on the namespace's ResourceQuota and
// LimitRange, each a server dry-run: update (PUT), its status (which holds
// the usage admission counts against), patch, delete, deletecollection, and
// creating another one.
func edits(ns string, quotas []corev1.ResourceQuota, ranges []corev1.LimitRange) []edit {
	q := corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "tenant-quota", Namespace: ns}}
	if len(quotas) > 0 {
		q = *quotas[0].DeepCopy()
	}
	l := corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "tenant-defaults", Namespace: ns}}
	if len(ranges) > 0 {
		l = *ranges[0].DeepCopy()
	}
	marked := func(m metav1.ObjectMeta) metav1.ObjectMeta {
		m.Labels = maps.Clone(m.Labels)
		if m.Labels == nil {
			m.Labels = map[string]string{}
		}
		m.Labels["tenantcheck.io/probe"] = "edit"
		return m
	}
	q.ObjectMeta, l.ObjectMeta = marked(q.ObjectMeta), marked(l.ObjectMeta)
	patch := []byte(`{"metadata":{"labels":{"tenantcheck.io/probe":"edit"}}}`)
	upd := metav1.UpdateOptions{DryRun: dryRun.DryRun}
	del := metav1.DeleteOptions{DryRun: dryRun.DryRun}
	sel := metav1.ListOptions{LabelSelector: nothing}
	probe := metav1.ObjectMeta{Name: "tc-quota-probe", Namespace: ns}
	return []edit{
		{"update", "resourcequotas", "", "update (PUT) resourcequota " + q.Name, func(ctx context.Context, cs kubernetes.Interface) error {
			_, err := cs.CoreV1().ResourceQuotas(ns).Update(ctx, &q, upd)
			return err
		}},
		{"update", "resourcequotas", "status", "update (PUT) the status (usage) of resourcequota " + q.Name, func(ctx context.Context, cs kubernetes.Interface) error {
			_, err := cs.CoreV1().ResourceQuotas(ns).UpdateStatus(ctx, &q, upd)
			return err
		}},
		{"patch", "resourcequotas", "", "patch resourcequota " + q.Name, func(ctx context.Context, cs kubernetes.Interface) error {
			_, err := cs.CoreV1().ResourceQuotas(ns).Patch(ctx, q.Name, types.MergePatchType, patch, metav1.PatchOptions{DryRun: dryRun.DryRun})
			return err
		}},
		{"delete", "resourcequotas", "", "delete resourcequota " + q.Name, func(ctx context.Context, cs kubernetes.Interface) error {
			return cs.CoreV1().ResourceQuotas(ns).Delete(ctx, q.Name, del)
		}},
		{"deletecollection", "resourcequotas", "", "delete all resourcequotas (deletecollection, selecting none)", func(ctx context.Context, cs kubernetes.Interface) error {
			return cs.CoreV1().ResourceQuotas(ns).DeleteCollection(ctx, del, sel)
		}},
		{"create", "resourcequotas", "", "create another resourcequota", func(ctx context.Context, cs kubernetes.Interface) error {
			_, err := cs.CoreV1().ResourceQuotas(ns).Create(ctx, &corev1.ResourceQuota{ObjectMeta: probe}, dryRun)
			return err
		}},
		{"update", "limitranges", "", "update (PUT) limitrange " + l.Name, func(ctx context.Context, cs kubernetes.Interface) error {
			_, err := cs.CoreV1().LimitRanges(ns).Update(ctx, &l, upd)
			return err
		}},
		{"patch", "limitranges", "", "patch limitrange " + l.Name, func(ctx context.Context, cs kubernetes.Interface) error {
			_, err := cs.CoreV1().LimitRanges(ns).Patch(ctx, l.Name, types.MergePatchType, patch, metav1.PatchOptions{DryRun: dryRun.DryRun})
			return err
		}},
		{"delete", "limitranges", "", "delete limitrange " + l.Name, func(ctx context.Context, cs kubernetes.Interface) error {
			return cs.CoreV1().LimitRanges(ns).Delete(ctx, l.Name, del)
		}},
		{"deletecollection", "limitranges", "", "delete all limitranges (deletecollection, selecting none)", func(ctx context.Context, cs kubernetes.Interface) error {
			return cs.CoreV1().LimitRanges(ns).DeleteCollection(ctx, del, sel)
		}},
		{"create", "limitranges", "", "create another limitrange", func(ctx context.Context, cs kubernetes.Interface) error {
			_, err := cs.CoreV1().LimitRanges(ns).Create(ctx, &corev1.LimitRange{ObjectMeta: probe}, dryRun)
			return err
		}},
	}
}

// tryEdits: every service account of the tenant namespace that the layer
// acts as (default and every bound one) tries every edit with its own real
// token. Only an authoriser's refusal is Forbidden; a 404 or 409 comes
// after authorisation and so is Admitted.
func tryEdits(ctx context.Context, in Input, acc kube.Accounts, quotas []corev1.ResourceQuota, ranges []corev1.LimitRange) []attempt {
	ns := acc.Namespace
	var out []attempt
	for _, sa := range acc.Names {
		as := kube.User(ns, sa)
		cs, err := in.AsServiceAccount(ctx, ns, sa)
		if err != nil {
			out = append(out, attempt{ns: ns, want: model.APIForbidden, got: model.APIError, note: "no token: " + err.Error(),
				ev: model.Evidence{Action: "get a token", From: as, Raw: err.Error(), Attempts: 1}})
			continue
		}
		for _, e := range edits(ns, quotas, ranges) {
			got, msg := kube.Classify(e.do(ctx, cs))
			a := attempt{ns: ns, want: model.APIForbidden, got: got, ev: model.Evidence{
				Action: e.what + " (server dry-run, with a real token)", From: as, To: ns, Raw: msg, Attempts: 1,
				Repro: in.Kubectl(canI(e, ns, as))}}
			if got == model.APIAdmitted || got == model.APIRejected {
				a.got = model.APIAdmitted // authorised: an admission refusal still means RBAC let it through
				a.note = fmt.Sprintf("%s may %s %s: %s", as, e.verb, e.resource+slash(e.sub), msg)
			}
			out = append(out, a)
		}
	}
	return out
}

func slash(sub string) string {
	if sub == "" {
		return ""
	}
	return "/" + sub
}

func canI(e edit, ns, as string) string {
	s := fmt.Sprintf("auth can-i %s %s -n %s --as=%s", e.verb, e.resource, ns, as)
	if e.sub != "" {
		s += " --subresource=" + e.sub
	}
	return s
}
