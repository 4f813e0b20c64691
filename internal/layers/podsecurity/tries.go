package podsecurity

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tenantcheck/tenantcheck/internal/kube"
	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/internal/par"
)

var dryRun = metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}

// runnerName is how evidence names the runner's own identity.
const runnerName = "tenantcheck"

// actor is one identity that submits the pods of a namespace: an account
// of the tenant with a real token, or the runner when no account of the
// tenant may create pods there.
type actor struct {
	ns, name string
	user     string // for --as in repro commands; "" for the runner
	cs       kubernetes.Interface
	runner   bool
	// control is the compliant pod's answer: the positive control. Only an
	// actor whose compliant pod was admitted proves anything by a refusal.
	control model.Evidence
	got     model.APIOutcome
	why     string // when the control did not pass
}

func (a actor) ok() bool { return a.got == model.APIAdmitted }

// actors lists, per namespace, the identities that try the pods. Every
// account of the tenant (default and every bound one) submits the compliant
// pod; one that may not create pods at all (an authoriser's refusal) has
// nothing to show and is left out. When none may, the runner stands in, and
// what it gets admitted is an Error, not Broken: a policy may exempt it.
func actors(ctx context.Context, c *kube.Client, in Input) map[string][]actor {
	out := map[string][]actor{}
	for _, ns := range in.Namespaces {
		var list []actor
		var excluded []string
		if in.AsServiceAccount != nil && in.AccountsErr == nil {
			for _, sa := range kube.AccountsIn(in.Accounts, ns).Names {
				a := actor{ns: ns, name: ns + "/" + sa, user: kube.User(ns, sa)}
				cs, err := in.AsServiceAccount(ctx, ns, sa)
				if err != nil {
					a.got, a.why = model.APIError, "no token: "+err.Error()
					a.control = model.Evidence{Action: "get a token", From: a.name, To: ns, Raw: err.Error()}
					list = append(list, a)
					continue
				}
				a.cs = cs
				control(ctx, c, in, &a)
				if a.got == model.APIForbidden {
					excluded = append(excluded, a.name)
					continue
				}
				list = append(list, a)
			}
		}
		if len(list) == 0 {
			a := actor{ns: ns, name: runnerName, cs: c.Clientset, runner: true}
			control(ctx, c, in, &a)
			if len(excluded) > 0 {
				a.control.Action += fmt.Sprintf(" (no account of the tenant may create pods here: %s)", strings.Join(excluded, ", "))
			}
			list = append(list, a)
		}
		out[ns] = list
	}
	return out
}

// control submits the compliant pod as a.
func control(ctx context.Context, c *kube.Client, in Input, a *actor) {
	pod := compliantPod(a.ns, in.Image)
	_, err := a.cs.CoreV1().Pods(a.ns).Create(ctx, pod, dryRun)
	got, raw, by := outcome(err)
	a.got = got
	a.control = model.Evidence{Action: "create a compliant pod (server dry-run)", From: a.name, To: a.ns, Raw: raw, Attempts: 1, Repro: repro(c, a, pod)}
	switch got {
	case model.APIAdmitted:
	case model.APIRejected:
		a.why = "a compliant pod was refused by " + by + ": " + raw
	case model.APIForbidden:
		a.why = "may not create pods: " + raw
	default:
		a.why = raw
	}
}

func repro(c *kube.Client, a *actor, pod *corev1.Pod) string {
	r := c.ReproDryRun(pod)
	if a.user != "" {
		r += " --as=" + a.user
	}
	return r
}

// judgeControl: every identity that tries the pods gets a compliant pod
// admitted, or its refusals prove nothing.
func judgeControl(ids map[string][]actor) model.Result {
	var broken, errs, observed []string
	var ev []model.Evidence
	n := 0
	for _, list := range sorted(ids) {
		for _, a := range list {
			n++
			ev = append(ev, a.control)
			observed = append(observed, fmt.Sprintf("%s: %s", a.name, a.got))
			nb, ne := len(broken), len(errs)
			switch {
			case a.ok():
			case a.got == model.APIRejected:
				broken = append(broken, a.name+": "+a.why)
			case a.runner && a.got == model.APIForbidden:
				errs = append(errs, a.ns+": neither the tenant's accounts nor the runner may create pods: "+a.why)
			default:
				errs = append(errs, a.name+": "+a.why)
			}
			ev[len(ev)-1].Verdict = grew(nb, ne, broken, errs)
		}
	}
	j := model.Worst(fmt.Sprintf("admitted for all %d identities", n), broken, errs)
	r := compliantCheck.Result(j)
	r.Expected, r.Observed, r.Evidence, r.Attempts = "Admitted for every identity", strings.Join(observed, "; "), ev, n
	return r
}

// sorted lists ids by namespace in a stable order.
func sorted(ids map[string][]actor) [][]actor {
	var keys []string
	for k := range ids {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var out [][]actor
	for _, k := range keys {
		out = append(out, ids[k])
	}
	return out
}

// want is what a namespace must do with a pod of class chk: refuse it when
// the declared level forbids it.
func want(in Input, chk Check, ns string) model.APIOutcome {
	if Level(in.expect(ns).LevelOrDefault()).rank() >= chk.ForbiddenFrom.rank() {
		return model.APIRejected
	}
	return model.APIAdmitted
}

// tryConcurrency bounds the dry-runs of one class in flight.
const tryConcurrency = 8

// tryClass submits the class's pod to every namespace as every identity
// whose control passed, and judges each answer against the declared level.
func tryClass(ctx context.Context, c *kube.Client, in Input, ids map[string][]actor, chk Check) model.Result {
	var broken, errs, observed []string
	var ev []model.Evidence
	n := 0
	// Every dry-run at once (bounded), then judged in order.
	type try struct {
		ns string
		a  actor
	}
	var tries []try
	for _, ns := range in.Namespaces {
		for _, a := range ids[ns] {
			if a.ok() {
				tries = append(tries, try{ns, a})
			}
		}
	}
	errsOf := make([]error, len(tries))
	par.Do(len(tries), tryConcurrency, func(i int) {
		pod := compliantPod(tries[i].ns, in.Image)
		chk.Mutate(pod)
		_, errsOf[i] = tries[i].a.cs.CoreV1().Pods(tries[i].ns).Create(ctx, pod, dryRun)
	})
	next := 0
	for _, ns := range in.Namespaces {
		w := want(in, chk, ns)
		e := in.expect(ns)
		for _, a := range ids[ns] {
			if !a.ok() {
				errs = append(errs, fmt.Sprintf("%s: not tried: positive control failed: %s", a.name, a.why))
				continue
			}
			pod := compliantPod(ns, in.Image)
			chk.Mutate(pod)
			err := errsOf[next] // the tries are in this loop's order
			next++
			got, raw, by := outcome(err)
			n++
			nb, ne := len(broken), len(errs)
			ev = append(ev, model.Evidence{Action: "create pod with " + chk.Name + " (server dry-run)", From: a.name, To: ns,
				Raw: raw, Attempts: 1, Repro: repro(c, &a, pod)})
			if by != "" {
				observed = append(observed, fmt.Sprintf("%s: %s by %s", a.name, got, by))
			} else {
				observed = append(observed, fmt.Sprintf("%s: %s", a.name, got))
			}
			switch {
			case got == model.APIAdmitted && w == model.APIRejected && a.runner && !declaresPSAOnly(e):
				// Admission policies commonly exempt cluster admins: what
				// the runner gets in says nothing about the tenant.
				errs = append(errs, fmt.Sprintf("%s: admitted for tenantcheck's own identity, which an admission policy may exempt; no account of the tenant may create pods here to try as", ns))
			case got == model.APIAdmitted && w == model.APIRejected && a.runner:
				// Enforced by the namespace's label alone: Pod Security
				// Admission let this pod into the namespace, for an
				// identity its configuration does not exempt by namespace.
				broken = append(broken, fmt.Sprintf("%s: a pod with %s was admitted (as tenantcheck: no account of the tenant may create pods here) although the spec holds it to %s, enforced by PodSecurity",
					ns, chk.Name, e.LevelOrDefault()))
			case got == model.APIAdmitted && w == model.APIRejected:
				broken = append(broken, fmt.Sprintf("%s can create a pod with %s in %s: admitted although the spec holds it to %s, enforced by %s",
					a.name, chk.Name, ns, e.LevelOrDefault(), strings.Join(e.Enforcers(), ", ")))
			case got == model.APIAdmitted, got == model.APIRejected:
				// As declared, or refused where the level allows it (the
				// cluster is stricter than declared): either way it holds.
			case got == model.APIForbidden:
				errs = append(errs, fmt.Sprintf("%s: refused by an authoriser for this pod only, not by a Pod Security control: %s", a.name, raw))
			default:
				errs = append(errs, a.name+": "+raw)
			}
			ev[len(ev)-1].Verdict = grew(nb, ne, broken, errs)
		}
	}
	j := model.Worst(fmt.Sprintf("as declared for all %d identities", n), broken, errs)
	r := chk.Result(j)
	r.Expected = expectedText(in, func(ns string) model.APIOutcome { return want(in, chk, ns) })
	r.Observed, r.Evidence, r.Attempts = strings.Join(observed, "; "), ev, n
	return r
}

// privilegedRefused says, per namespace, whether a privileged pod is
// refused right now for every identity that tried it: the workload check
// runs only there, so it can never persist a privileged pod.
func privilegedRefused(ctx context.Context, c *kube.Client, in Input) map[string]bool {
	out := map[string]bool{}
	for _, ns := range in.Namespaces {
		pod := compliantPod(ns, in.Image)
		Checks[0].Mutate(pod)
		_, err := c.Clientset.CoreV1().Pods(ns).Create(ctx, pod, dryRun)
		got, _ := Outcome(err)
		out[ns] = got == model.APIRejected
	}
	return out
}

// grew is the verdict of the attempt just judged into broken and errs,
// which held nb and ne lines before it: Broken or Error when it added one.
func grew(nb, ne int, broken, errs []string) model.Verdict {
	switch {
	case len(broken) > nb:
		return model.VerdictBroken
	case len(errs) > ne:
		return model.VerdictError
	}
	return model.VerdictHeld
}
