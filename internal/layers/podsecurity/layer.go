package podsecurity

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
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
	Summary: "the tenant's own accounts submit one dry-run pod per violation class, judged against the level the spec declares, whatever enforces it; in provision mode a privileged Deployment must get no pods",
	Checks:  allChecks(),
	Needs:   needs,
	Creates: []schema.GroupVersionResource{{Group: "apps", Version: "v1", Resource: "deployments"}},
	Run:     run,
}

// needs: read the namespaces and the admission policies the spec names,
// dry-run pods as the runner and as the tenants' accounts; in provision
// mode, the privileged Deployment in the run's own namespaces.
func needs(mode model.Mode) []kube.Permission {
	ps := []kube.Permission{
		layer.GetNamespaces,
		{Verb: "create", Resource: "pods"}, // server dry-run only
		{Verb: "create", Resource: "serviceaccounts", Subresource: "token"},
		{Verb: "get", Group: "admissionregistration.k8s.io", Resource: "validatingadmissionpolicies"},
		{Verb: "list", Group: "admissionregistration.k8s.io", Resource: "validatingadmissionpolicybindings"},
	}
	ps = append(ps, kube.AccountPermissions...)
	if mode == model.ModeProvision {
		ps = append(ps,
			kube.Permission{Verb: "list", Resource: "pods"}, // did the privileged Deployment get a pod?
			kube.Permission{Verb: "create", Group: "apps", Resource: "deployments"},
			kube.Permission{Verb: "delete", Group: "apps", Resource: "deployments"},
			kube.Permission{Verb: "list", Group: "apps", Resource: "replicasets"},
			kube.Permission{Verb: "list", Resource: "events"})
	}
	return ps
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

// Input: the tenant namespaces to try, what each must refuse, and how to
// act as the tenant.
type Input struct {
	Namespaces []string
	// Expect is each namespace's declared level and enforcers; a namespace
	// it does not name is held to the guide's (restricted, by PodSecurity).
	Expect map[string]model.PodSecurityExpectation
	// Image the test pods name (never pulled: dry-run starts nothing).
	Image string
	// Labels mark what the layer creates (the privileged Deployment, its
	// ReplicaSet and pods) as the run's, so cleanup and the sweep find it
	// should the run die mid-check.
	Labels map[string]string
	// Accounts are the service accounts each namespace's tenant acts as;
	// AsServiceAccount gives a client with a real token of one. Without
	// them (or when no account of a namespace may create pods) the pods are
	// submitted as the runner, whose admission proves nothing.
	Accounts         []kube.Accounts
	AccountsErr      error
	AsServiceAccount func(ctx context.Context, ns, sa string) (kubernetes.Interface, error)
	// Provisioned: the namespaces are the run's own, where a real
	// privileged Deployment may be tried. Never in an audited tenant.
	Provisioned bool
}

func (in Input) expect(ns string) model.PodSecurityExpectation { return in.Expect[ns] }

func run(ctx context.Context, env *layer.Env) layer.Output {
	start := time.Now()
	c := env.Client
	in := Input{Namespaces: env.Roster.TenantNamespaces(), Image: env.Probe.Image, Labels: env.Labels,
		Expect: map[string]model.PodSecurityExpectation{}, Provisioned: env.Mode == model.ModeProvision,
		AsServiceAccount: func(ctx context.Context, ns, sa string) (kubernetes.Interface, error) {
			cs, _, err := c.AsServiceAccount(ctx, ns, sa, 10*time.Minute)
			return cs, err
		}}
	for _, m := range env.Roster.ByRole(model.RoleTenant) {
		in.Expect[m.Namespace] = m.PodSecurity
	}
	in.Accounts, in.AccountsErr = c.TenantAccounts(ctx, in.Namespaces)
	results := Run(ctx, c, in)
	env.Say("podsecurity: %d violation classes tried with server dry-run in %.1fs", len(Checks), time.Since(start).Seconds())
	return layer.Output{Results: results}
}

// Run tries every violation class in every tenant namespace, as every
// account of the tenant that may create pods.
func Run(ctx context.Context, c *kube.Client, in Input) []model.Result {
	lv, err := readLevels(ctx, c, in)
	if err != nil {
		return layer.Results(allChecks(), model.Errored(err.Error()))
	}
	results := []model.Result{judgeLevels(c, in, lv)}
	ids := actors(ctx, c, in)
	results = append(results, judgeControl(ids))
	for _, chk := range Checks {
		results = append(results, tryClass(ctx, c, in, ids, chk))
	}
	return append(results, tryWorkload(ctx, c, in, privilegedRefused(ctx, c, in)))
}

// Outcome reads the API server's answer as the Pod Security layer. A
// refusal by a Pod Security control (the PodSecurity plugin, a
// ValidatingAdmissionPolicy, a validating webhook) is Rejected, and by names
// which one refused. Quota and LimitRange refusals say nothing about Pod
// Security and are Errors; an authoriser's refusal is Forbidden (the caller
// decides what it means); anything else is an Error.
func Outcome(err error) (got model.APIOutcome, raw string) {
	got, raw, _ = outcome(err)
	return got, raw
}

func outcome(err error) (model.APIOutcome, string, string) {
	got, raw := kube.Classify(err)
	switch {
	case err == nil:
		return model.APIAdmitted, "admitted", ""
	case got == model.APIRejected:
		if by := refuser(err.Error()); by != "" {
			return model.APIRejected, raw, by
		}
		return model.APIError, "refused, but not by a Pod Security control: " + raw, ""
	case got == model.APIForbidden:
		return model.APIForbidden, raw, ""
	case got == model.APIAdmitted:
		return model.APIError, "not admitted, and not refused either: " + raw, ""
	}
	return model.APIError, raw, ""
}

// refuser names the admission control that wrote a refusal: "PodSecurity",
// "ValidatingAdmissionPolicy/<name>" or "webhook/<name>"; "" for any other
// (quota, LimitRange, NamespaceLifecycle...).
func refuser(msg string) string {
	switch {
	case strings.Contains(msg, "violates PodSecurity"):
		return "PodSecurity"
	case strings.Contains(msg, "ValidatingAdmissionPolicy '"):
		_, rest, _ := strings.Cut(msg, "ValidatingAdmissionPolicy '")
		name, _, _ := strings.Cut(rest, "'")
		return "ValidatingAdmissionPolicy/" + name
	case strings.Contains(msg, `admission webhook "`):
		_, rest, _ := strings.Cut(msg, `admission webhook "`)
		name, _, _ := strings.Cut(rest, `"`)
		return "webhook/" + name
	}
	return ""
}

// compliantPod satisfies Pod Security "restricted" and the guide's quota.
func compliantPod(ns, image string) *corev1.Pod {
	return kube.RestrictedPod(kube.PodOptions{Namespace: ns, Name: "tc-podsecurity-probe", Image: image})
}

// expectedText is "ns: Rejected (restricted, by PodSecurity)" per namespace.
func expectedText(in Input, want func(string) model.APIOutcome) string {
	var out []string
	for _, ns := range in.Namespaces {
		e := in.expect(ns)
		out = append(out, fmt.Sprintf("%s: %s (%s, by %s)", ns, want(ns), e.LevelOrDefault(), strings.Join(e.Enforcers(), ", ")))
	}
	return strings.Join(out, "; ")
}

// declaresPSAOnly says whether the namespace's label is the only declared
// enforcer.
func declaresPSAOnly(e model.PodSecurityExpectation) bool {
	return slices.Equal(e.Enforcers(), []string{"PodSecurity"})
}
