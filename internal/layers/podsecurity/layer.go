package podsecurity

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tenantcheck/tenantcheck/internal/model"
)

const (
	labelEnforce        = "pod-security.kubernetes.io/enforce"
	labelEnforceVersion = "pod-security.kubernetes.io/enforce-version"
	labelAudit          = "pod-security.kubernetes.io/audit"
	labelWarn           = "pod-security.kubernetes.io/warn"
)

// Input: the tenant namespaces to try, and the image the test pods name
// (never pulled: dry-run persists nothing and starts nothing).
type Input struct {
	Namespaces []string
	Image      string
	// Labels mark what the layer creates (the privileged Deployment) as the
	// run's, so cleanup and the sweep find it should the run die mid-check.
	Labels map[string]string
}

// Run tries every violation class in every tenant namespace.
func Run(ctx context.Context, cs kubernetes.Interface, in Input) []model.Result {
	levels := map[string]Level{}
	labels := map[string]string{}
	var results []model.Result
	for _, ns := range in.Namespaces {
		n, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if err != nil {
			return allErrored(fmt.Sprintf("read namespace %s: %v", ns, err))
		}
		levels[ns] = Level(n.Labels[labelEnforce])
		labels[ns] = fmt.Sprintf("enforce=%q enforce-version=%q audit=%q warn=%q", n.Labels[labelEnforce], n.Labels[labelEnforceVersion], n.Labels[labelAudit], n.Labels[labelWarn])
	}
	results = append(results, judgeLevels(in.Namespaces, levels, labels))
	results = append(results, tryPods(ctx, cs, in, compliantCheck, nil, func(string) model.APIOutcome { return model.APIAdmitted }))
	for _, c := range Checks {
		want := func(ns string) model.APIOutcome {
			if declared(levels[ns]).rank() >= c.ForbiddenFrom.rank() {
				return model.APIRejected
			}
			return model.APIAdmitted
		}
		results = append(results, tryPods(ctx, cs, in, c.Check, c.Mutate, want))
	}
	return append(results, tryWorkload(ctx, cs, in, privilegedRefused(ctx, cs, in)))
}

// privilegedRefused says, per namespace, whether a privileged pod is refused
// by Pod Security right now (server dry-run).
func privilegedRefused(ctx context.Context, cs kubernetes.Interface, in Input) map[string]bool {
	out := map[string]bool{}
	for _, ns := range in.Namespaces {
		pod := compliantPod(ns, in.Image)
		Checks[0].Mutate(pod)
		_, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		got, _ := outcome(err)
		out[ns] = got == model.APIRejected
	}
	return out
}

// declared is the effective enforce level: no label means privileged.
func declared(l Level) Level {
	if l == "" {
		return Privileged
	}
	return l
}

func judgeLevels(namespaces []string, levels map[string]Level, labels map[string]string) model.Result {
	var weak []string
	var ev []model.Evidence
	for _, ns := range namespaces {
		ev = append(ev, model.Evidence{Action: "read Pod Security labels", To: ns, Raw: labels[ns], Attempts: 1,
			Repro: "kubectl get namespace " + ns + " --show-labels"})
		if declared(levels[ns]) != Restricted {
			weak = append(weak, fmt.Sprintf("%s enforces %s", ns, declared(levels[ns])))
		}
	}
	j := model.Held(fmt.Sprintf("all %d tenant namespaces enforce restricted", len(namespaces)))
	if len(weak) > 0 {
		j = model.Broken(strings.Join(weak, "; ") + " (the guide asks for restricted)")
	}
	r := levelCheck.Result(j)
	r.Expected, r.Observed, r.Evidence = "enforce=restricted", strings.Join(labelsList(namespaces, labels), "; "), ev
	return r
}

func labelsList(namespaces []string, labels map[string]string) []string {
	var out []string
	for _, ns := range namespaces {
		out = append(out, ns+": "+labels[ns])
	}
	return out
}

// tryPods submits the (mutated) pod to each namespace with dry-run and
// judges what came back against want(ns). The check is Broken if any
// namespace is, else Error if any is, else Held.
func tryPods(ctx context.Context, cs kubernetes.Interface, in Input, c model.Check, mutate func(*corev1.Pod), want func(string) model.APIOutcome) model.Result {
	var ev []model.Evidence
	var observed []string
	byVerdict := map[model.Verdict][]string{}
	for _, ns := range in.Namespaces {
		pod := compliantPod(ns, in.Image)
		if mutate != nil {
			mutate(pod)
		}
		_, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		got, msg := outcome(err)
		j := model.JudgeAPI(want(ns), got)
		byVerdict[j.Verdict] = append(byVerdict[j.Verdict], ns+": "+j.Reason)
		observed = append(observed, fmt.Sprintf("%s: %s", ns, got))
		ev = append(ev, model.Evidence{Action: "create pod with " + c.Name + " (server dry-run)", To: ns, Raw: msg, Attempts: 1, Repro: repro(pod)})
	}
	j := model.Held(fmt.Sprintf("as expected in all %d namespaces", len(in.Namespaces)))
	if b := byVerdict[model.VerdictBroken]; len(b) > 0 {
		j = model.Broken(strings.Join(b, "; "))
	} else if e := byVerdict[model.VerdictError]; len(e) > 0 {
		j = model.Errored(strings.Join(e, "; "))
	}
	r := c.Result(j)
	r.Expected = expectedText(in.Namespaces, want)
	r.Observed = strings.Join(observed, "; ")
	r.Evidence = ev
	r.Attempts = len(in.Namespaces)
	return r
}

// repro is a one-line command that submits the same pod with dry-run.
func repro(pod *corev1.Pod) string {
	p := pod.DeepCopy()
	p.APIVersion, p.Kind = "v1", "Pod"
	b, _ := json.Marshal(p)
	return fmt.Sprintf("echo '%s' | kubectl create --dry-run=server -f -", b)
}

func expectedText(namespaces []string, want func(string) model.APIOutcome) string {
	var out []string
	for _, ns := range namespaces {
		out = append(out, fmt.Sprintf("%s: %s", ns, want(ns)))
	}
	return strings.Join(out, "; ")
}

// outcome classifies the API server's answer: a PodSecurity violation is
// Rejected; any other refusal (validation, RBAC, a webhook) says nothing
// about Pod Security and is an Error carrying its message.
func outcome(err error) (model.APIOutcome, string) {
	switch {
	case err == nil:
		return model.APIAdmitted, "admitted"
	case apierrors.IsForbidden(err) && strings.Contains(err.Error(), "violates PodSecurity"):
		return model.APIRejected, err.Error()
	case apierrors.IsForbidden(err):
		return model.APIError, "forbidden, but not by Pod Security: " + err.Error()
	}
	return model.APIError, err.Error()
}

// compliantPod satisfies Pod Security "restricted" and the guide's quota.
func compliantPod(ns, image string) *corev1.Pod {
	rl := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "tc-podsecurity-probe", Namespace: ns},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken: ptr(false),
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot: ptr(true), RunAsUser: ptr(int64(65532)),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{
				Name: "probe", Image: image, ImagePullPolicy: corev1.PullNever,
				Resources: corev1.ResourceRequirements{Requests: rl, Limits: rl},
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr(false),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
			}},
		},
	}
}

func allErrored(reason string) []model.Result {
	out := []model.Result{levelCheck.Result(model.Errored(reason)), compliantCheck.Result(model.Errored(reason)), workloadCheck.Result(model.Errored(reason))}
	for _, c := range Checks {
		out = append(out, c.Result(model.Errored(reason)))
	}
	return out
}
