package podsecurity

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/tenantcheck/tenantcheck/internal/kube"
	"github.com/tenantcheck/tenantcheck/internal/model"
)

// workloadCheck: a Deployment is not a pod, so Pod Security only warns when
// it is created; the pods its ReplicaSet then tries to make are rejected,
// and the ReplicaSet's FailedCreate event is the evidence.
var workloadCheck = model.Check{
	ID: "podsecurity/privileged-workload-blocked", Layer: model.LayerPodSecurity, Name: "privileged Deployment gets no pods",
	Description: "a Deployment with a privileged pod template is accepted, but its ReplicaSet cannot create a pod (FailedCreate: violates PodSecurity)",
	Expected:    model.ExpectAPI(model.APIRejected),
}

// tryWorkload creates the Deployment only in the run's own namespaces
// (provision mode: never a real privileged object in an audited tenant),
// and there only where a privileged pod was just refused at dry-run, so the
// attempt can never persist a privileged pod; elsewhere the check is
// skipped with that reason.
func tryWorkload(ctx context.Context, c *kube.Client, in Input, safe map[string]bool) model.Result {
	if !in.Provisioned {
		return workloadCheck.Result(model.Skipped("an audit creates no privileged object in a real tenant; the controller path is proven in provision mode, in the run's own namespaces"))
	}
	var ev []model.Evidence
	var broken, errs, skipped []string
	// One namespace at a time: each Deployment is work for the cluster's
	// controllers, whose own client is rate-limited; measured on the local
	// cluster with 20 tenants, 3 at once took twice as long as one by one.
	for _, ns := range in.Namespaces {
		if !safe[ns] {
			skipped = append(skipped, ns)
			continue
		}
		e, got := workloadIn(ctx, c, in, ns)
		j := model.JudgeAPI(model.APIRejected, got)
		e.Verdict = j.Verdict
		ev = append(ev, e)
		switch j.Verdict {
		case model.VerdictBroken:
			broken = append(broken, ns+": "+e.Raw)
		case model.VerdictError:
			errs = append(errs, ns+": "+e.Raw)
		}
	}
	var j model.Judgement
	switch {
	case len(broken) > 0:
		j = model.Broken(strings.Join(broken, "; "))
	case len(errs) > 0:
		j = model.Errored(strings.Join(errs, "; "))
	case len(ev) == 0:
		j = model.Skipped("no namespace refused a privileged pod at dry-run, so a privileged Deployment is not tried (it would persist a privileged pod)")
	default:
		j = model.Held(fmt.Sprintf("FailedCreate in %d namespace(s)", len(ev)))
		if len(skipped) > 0 {
			j.Reason += "; not tried in " + strings.Join(skipped, ", ")
		}
	}
	r := workloadCheck.Result(j)
	r.Evidence, r.Attempts = ev, len(ev)
	return r
}

func workloadIn(ctx context.Context, c *kube.Client, in Input, ns string) (model.Evidence, model.APIOutcome) {
	cs := c.Clientset
	pod := compliantPod(ns, in.Image)
	Checks[0].Mutate(pod) // privileged
	name := "tc-privileged-workload"
	selector := map[string]string{"tenantcheck.io/probe": name}
	// The run's labels go on the Deployment and on its template, so that
	// the ReplicaSet and any pod carry them too: cleanup and the sweep find
	// all three by label should the run die here.
	labels := maps.Clone(in.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	maps.Copy(labels, selector)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(int32(1)), Selector: &metav1.LabelSelector{MatchLabels: selector},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: pod.Spec},
		},
	}
	ev := model.Evidence{Action: "create a Deployment with a privileged pod template", To: ns, Attempts: 1,
		Repro: c.ReproKubectl(fmt.Sprintf("get events -n %s --field-selector reason=FailedCreate", ns))}
	start := time.Now()
	created, err := cs.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{})
	if err != nil {
		ev.Raw = "create deployment: " + err.Error()
		return ev, model.APIError
	}
	defer func() {
		fg := metav1.DeletePropagationForeground
		_ = cs.AppsV1().Deployments(ns).Delete(context.Background(), name, metav1.DeleteOptions{PropagationPolicy: &fg})
	}()
	got := model.APIError
	ev.Raw = "no FailedCreate event of this Deployment's ReplicaSet and no pod within 20s"
	_ = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		rs := ownedReplicaSet(ctx, c, ns, created.UID)
		if rs == nil {
			return false, nil
		}
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "tenantcheck.io/probe=" + name})
		if err == nil {
			for _, p := range pods.Items {
				if ownedBy(p.OwnerReferences, rs.UID) {
					got, ev.Raw = model.APIAdmitted, "the ReplicaSet "+rs.Name+" created privileged pod "+p.Name+" (deleted again)"
					return true, nil
				}
			}
		}
		events, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "reason=FailedCreate"})
		if err != nil {
			return false, nil
		}
		for _, e := range events.Items {
			if e.InvolvedObject.UID != rs.UID {
				continue // another object's failure is not this Deployment's evidence
			}
			if by := refuser(e.Message); by != "" {
				got, ev.Raw = model.APIRejected, fmt.Sprintf("ReplicaSet %s (uid %s): refused by %s: %s", rs.Name, rs.UID, by, e.Message)
				return true, nil
			}
		}
		return false, nil
	})
	ev.Duration = model.Millis(time.Since(start))
	return ev, got
}

// ownedReplicaSet is the ReplicaSet the Deployment with uid owns, if any yet.
func ownedReplicaSet(ctx context.Context, c *kube.Client, ns string, uid types.UID) *appsv1.ReplicaSet {
	list, err := c.Clientset.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil
	}
	for i, rs := range list.Items {
		if ownedBy(rs.OwnerReferences, uid) {
			return &list.Items[i]
		}
	}
	return nil
}

func ownedBy(refs []metav1.OwnerReference, uid types.UID) bool {
	for _, r := range refs {
		if r.UID == uid {
			return true
		}
	}
	return false
}
