package podsecurity

import (
	"context"
	"fmt"
	"slices"
	"strings"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tenantcheck/tenantcheck/internal/kube"
	"github.com/tenantcheck/tenantcheck/internal/model"
)

// nsLevel is what a namespace's Pod Security labels say.
type nsLevel struct {
	// raw is the enforce label's value ("" when absent); level is it parsed,
	// valid false when it is not one of the three levels. Pod Security
	// Admission does not read "Restricted" as restricted: a value that is
	// not exactly a level is its own finding.
	raw    string
	level  Level
	valid  bool
	labels string
}

// parseLevel is strict: exactly privileged, baseline or restricted; no
// label is privileged (Pod Security Admission's default).
func parseLevel(raw string) (Level, bool) {
	switch Level(raw) {
	case "":
		return Privileged, true
	case Privileged, Baseline, Restricted:
		return Level(raw), true
	}
	return "", false
}

func readLevels(ctx context.Context, c *kube.Client, in Input) (map[string]nsLevel, error) {
	out := map[string]nsLevel{}
	for _, ns := range in.Namespaces {
		n, err := c.Clientset.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("read namespace %s: %v", ns, err)
		}
		raw := n.Labels[labelEnforce]
		lv, ok := parseLevel(raw)
		out[ns] = nsLevel{raw: raw, level: lv, valid: ok,
			labels: fmt.Sprintf("enforce=%q enforce-version=%q audit=%q warn=%q", raw, n.Labels[labelEnforceVersion], n.Labels[labelAudit], n.Labels[labelWarn])}
	}
	return out, nil
}

// judgeLevels: each namespace carries what the spec says enforces its
// level. With PodSecurity, a valid enforce label at least as strict as the
// declared level; with a ValidatingAdmissionPolicy, that policy exists and
// a binding makes it deny. Whether the pods are then really refused is for
// the violation classes to show.
func judgeLevels(c *kube.Client, in Input, lv map[string]nsLevel) model.Result {
	var weak, errs []string
	var ev []model.Evidence
	policies := policyReader{c: c}
	for _, ns := range in.Namespaces {
		e := in.expect(ns)
		want := Level(e.LevelOrDefault())
		l := lv[ns]
		first, nb, ne := len(ev), len(weak), len(errs)
		ev = append(ev, model.Evidence{Action: "read Pod Security labels", To: ns, Raw: l.labels, Attempts: 1,
			Repro: c.ReproKubectl("get namespace " + ns + " --show-labels")})
		for _, by := range e.Enforcers() {
			if by == "PodSecurity" {
				switch {
				case !l.valid:
					weak = append(weak, fmt.Sprintf("%s: label %s=%q is not a Pod Security level (privileged, baseline or restricted, lower case)", ns, labelEnforce, l.raw))
				case l.level.rank() < want.rank():
					weak = append(weak, fmt.Sprintf("%s enforces %s (the spec asks for %s)", ns, l.level, want))
				}
				continue
			}
			name, _ := strings.CutPrefix(by, "ValidatingAdmissionPolicy/")
			finding, e, err := policies.check(name)
			ev = append(ev, e)
			switch {
			case err != "":
				errs = append(errs, ns+": "+err)
			case finding != "":
				weak = append(weak, ns+": "+finding)
			}
		}
		for i := first; i < len(ev); i++ {
			ev[i].Verdict = grew(nb, ne, weak, errs)
		}
	}
	j := model.Worst(fmt.Sprintf("all %d tenant namespaces carry their declared enforcement", len(in.Namespaces)), weak, errs)
	r := levelCheck.Result(j)
	r.Expected = expectedText(in, func(string) model.APIOutcome { return model.APIRejected })
	var obs []string
	for _, ns := range in.Namespaces {
		obs = append(obs, ns+": "+lv[ns].labels)
	}
	r.Observed, r.Evidence = strings.Join(obs, "; "), ev
	return r
}

// policyReader reads ValidatingAdmissionPolicies and their bindings once.
type policyReader struct {
	c        *kube.Client
	bindings []admissionv1.ValidatingAdmissionPolicyBinding
	listed   bool
	listErr  error
}

// check says what is wrong with the named policy as an enforcer (finding),
// or why it could not be read (err).
func (p *policyReader) check(name string) (finding string, ev model.Evidence, err string) {
	ctx := context.Background()
	ev = model.Evidence{Action: "read ValidatingAdmissionPolicy " + name + " and its bindings", To: "cluster", Attempts: 1,
		Repro: p.c.ReproKubectl("get validatingadmissionpolicy,validatingadmissionpolicybinding -o wide")}
	if _, e := p.c.Clientset.AdmissionregistrationV1().ValidatingAdmissionPolicies().Get(ctx, name, metav1.GetOptions{}); e != nil {
		ev.Raw = kube.StatusLine(e)
		if apierrors.IsNotFound(e) {
			return "ValidatingAdmissionPolicy " + name + ", which the spec says enforces its level, does not exist", ev, ""
		}
		return "", ev, "read ValidatingAdmissionPolicy " + name + ": " + ev.Raw
	}
	if !p.listed {
		l, e := p.c.Clientset.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().List(ctx, metav1.ListOptions{})
		p.listed, p.listErr = true, e
		if e == nil {
			p.bindings = l.Items
		}
	}
	if p.listErr != nil {
		ev.Raw = kube.StatusLine(p.listErr)
		return "", ev, "list ValidatingAdmissionPolicyBindings: " + ev.Raw
	}
	var denying []string
	for _, b := range p.bindings {
		if b.Spec.PolicyName == name && slices.Contains(b.Spec.ValidationActions, admissionv1.Deny) {
			denying = append(denying, b.Name)
		}
	}
	if len(denying) == 0 {
		ev.Raw = "no binding with validationActions Deny"
		return "ValidatingAdmissionPolicy " + name + " has no binding that denies (validationActions: Deny)", ev, ""
	}
	ev.Raw = "bound with Deny by " + strings.Join(denying, ", ")
	return "", ev, ""
}
