package podsecurity

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"

	"github.com/tenantcheck/tenantcheck/internal/kube"
	"github.com/tenantcheck/tenantcheck/internal/layer"
	"github.com/tenantcheck/tenantcheck/internal/model"
)

const (
	labelEnforce        = "pod-security.kubernetes.io/enforce"
	labelEnforceVersion = "pod-security.kubernetes.io/enforce-version"
	labelAudit          = "pod-security.kubernetes.io/audit"
	labelWarn           = "pod-security.kubernetes.io/warn"
)

// Layer is the Pod Security layer as the runner holds it.
var Layer = layer.Layer{
	ID:      model.LayerPodSecurity,
	Summary: "one dry-run pod per violation class, judged against each namespace's enforce level; a privileged Deployment must get no pods",
	Checks:  allChecks(),
	Needs: layer.Perms(
		layer.GetNamespaces,
		kube.Permission{Verb: "create", Resource: "pods"}, // server dry-run only
		kube.Permission{Verb: "list", Resource: "pods"},   // did the privileged Deployment get a pod?
		kube.Permission{Verb: "create", Group: "apps", Resource: "deployments"},
		kube.Permission{Verb: "delete", Group: "apps", Resource: "deployments"},
		kube.Permission{Verb: "list", Resource: "events"},
	),
	Creates: []schema.GroupVersionResource{{Group: "apps", Version: "v1", Resource: "deployments"}},
	Run:     run,
}

// allChecks in report order: the declared level, the control, each
// violation class, then the privileged workload.
func allChecks() []model.Check {
	out := []model.Check{levelCheck, compliantCheck}
	for _, c := range Checks {
		out = append(out, c.Check)
	}
	return append(out, workloadCheck)
}

// Input: the tenant namespaces to try, and the image the test pods name
// (never pulled: dry-run persists nothing and starts nothing).
type Input struct {
	Namespaces []string
	Image      string
	// Labels mark what the layer creates (the privileged Deployment) as the
	// run's, so cleanup and the sweep find it should the run die mid-check.
	Labels map[string]string
}

func run(ctx context.Context, env *layer.Env) layer.Output {
	start := time.Now()
	results := Run(ctx, env.Client, Input{Namespaces: env.Roster.TenantNamespaces(), Image: env.Probe.Image, Labels: env.Labels})
	env.Say("podsecurity: %d violation classes tried with server dry-run in %.1fs", len(Checks), time.Since(start).Seconds())
	return layer.Output{Results: results}
}

// Run tries every violation class in every tenant namespace.
func Run(ctx context.Context, c *kube.Client, in Input) []model.Result {
	cs := c.Clientset
	levels := map[string]Level{}
	labels := map[string]string{}
	var results []model.Result
	for _, ns := range in.Namespaces {
		n, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if err != nil {
			return layer.Results(allChecks(), model.Errored(fmt.Sprintf("read namespace %s: %v", ns, err)))
		}
		levels[ns] = Level(n.Labels[labelEnforce])
		labels[ns] = fmt.Sprintf("enforce=%q enforce-version=%q audit=%q warn=%q", n.Labels[labelEnforce], n.Labels[labelEnforceVersion], n.Labels[labelAudit], n.Labels[labelWarn])
	}
	results = append(results, judgeLevels(c, in.Namespaces, levels, labels))
	results = append(results, tryPods(ctx, c, in, compliantCheck, nil, func(string) model.APIOutcome { return model.APIAdmitted }))
	for _, chk := range Checks {
		want := func(ns string) model.APIOutcome {
			if declared(levels[ns]).rank() >= chk.ForbiddenFrom.rank() {
				return model.APIRejected
			}
			return model.APIAdmitted
		}
		results = append(results, tryPods(ctx, c, in, chk.Check, chk.Mutate, want))
	}
	return append(results, tryWorkload(ctx, c, in, privilegedRefused(ctx, cs, in)))
}

// privilegedRefused says, per namespace, whether a privileged pod is refused
// by Pod Security right now (server dry-run).
func privilegedRefused(ctx context.Context, cs kubernetes.Interface, in Input) map[string]bool {
	out := map[string]bool{}
	for _, ns := range in.Namespaces {
		pod := compliantPod(ns, in.Image)
		Checks[0].Mutate(pod)
		_, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		got, _ := Outcome(err)
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

func judgeLevels(c *kube.Client, namespaces []string, levels map[string]Level, labels map[string]string) model.Result {
	var weak []string
	var ev []model.Evidence
	for _, ns := range namespaces {
		ev = append(ev, model.Evidence{Action: "read Pod Security labels", To: ns, Raw: labels[ns], Attempts: 1,
			Repro: c.ReproKubectl("get namespace " + ns + " --show-labels")})
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
func tryPods(ctx context.Context, c *kube.Client, in Input, chk model.Check, mutate func(*corev1.Pod), want func(string) model.APIOutcome) model.Result {
	var ev []model.Evidence
	var observed []string
	byVerdict := map[model.Verdict][]string{}
	for _, ns := range in.Namespaces {
		pod := compliantPod(ns, in.Image)
		if mutate != nil {
			mutate(pod)
		}
		_, err := c.Clientset.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		got, msg := Outcome(err)
		j := model.JudgeAPI(want(ns), got)
		byVerdict[j.Verdict] = append(byVerdict[j.Verdict], ns+": "+j.Reason)
		observed = append(observed, fmt.Sprintf("%s: %s", ns, got))
		ev = append(ev, model.Evidence{Action: "create pod with " + chk.Name + " (server dry-run)", To: ns, Raw: msg, Attempts: 1, Repro: c.ReproDryRun(pod)})
	}
	j := model.Held(fmt.Sprintf("as expected in all %d namespaces", len(in.Namespaces)))
	if b := byVerdict[model.VerdictBroken]; len(b) > 0 {
		j = model.Broken(strings.Join(b, "; "))
	} else if e := byVerdict[model.VerdictError]; len(e) > 0 {
		j = model.Errored(strings.Join(e, "; "))
	}
	r := chk.Result(j)
	r.Expected = expectedText(in.Namespaces, want)
	r.Observed = strings.Join(observed, "; ")
	r.Evidence = ev
	r.Attempts = len(in.Namespaces)
	return r
}

func expectedText(namespaces []string, want func(string) model.APIOutcome) string {
	var out []string
	for _, ns := range namespaces {
		out = append(out, fmt.Sprintf("%s: %s", ns, want(ns)))
	}
	return strings.Join(out, "; ")
}

// Outcome reads the API server's answer as the Pod Security layer: only
// Pod Security's own refusal is Rejected. Any other refusal (an authoriser,
// quota, LimitRanger, a webhook) says nothing about Pod Security and is an
// Error carrying its message.
func Outcome(err error) (model.APIOutcome, string) {
	got, raw := kube.Classify(err)
	switch {
	case err == nil:
		return model.APIAdmitted, "admitted"
	case got == model.APIRejected && strings.Contains(err.Error(), "violates PodSecurity"):
		return model.APIRejected, raw
	case got == model.APIRejected || got == model.APIForbidden:
		return model.APIError, "refused, but not by Pod Security: " + raw
	case got == model.APIAdmitted:
		return model.APIError, "not admitted, and not refused either: " + raw
	}
	return model.APIError, raw
}

// compliantPod satisfies Pod Security "restricted" and the guide's quota.
func compliantPod(ns, image string) *corev1.Pod {
	return kube.RestrictedPod(kube.PodOptions{Namespace: ns, Name: "tc-podsecurity-probe", Image: image})
}
