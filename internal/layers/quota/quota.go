// Package quota is the ResourceQuota and LimitRange layer: it reads what each
// tenant namespace declares, then tries, with server-side dry-run, to take
// more than the quota allows and to run a pod without resources, and checks
// that the tenant's own service accounts cannot loosen either object.
package quota

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tenantcheck/tenantcheck/internal/kube"
	"github.com/tenantcheck/tenantcheck/internal/layer"
	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/internal/par"
)

// Layer is the ResourceQuota and LimitRange layer as the runner holds it.
var Layer = layer.Layer{
	ID:      model.LayerQuota,
	Summary: "reads the ResourceQuota and LimitRange, asks for more than the quota allows, and has the tenant's service accounts try to loosen both",
	Checks:  checks(),
	Needs:   needs,
	Run:     run,
}

// needs: read what each tenant declares, dry-run pods, and find and act as
// the tenant's service accounts (default and every bound one) with real
// tokens; in provision mode also the temporary pod-count quota in the run's
// own namespaces. A token of any account of a namespace grants the runner
// nothing it lacks: it may create pods there, and a pod may run as any
// account of its namespace.
func needs(mode model.Mode) []kube.Permission {
	ps := []kube.Permission{
		{Verb: "list", Resource: "resourcequotas"},
		{Verb: "list", Resource: "limitranges"},
		{Verb: "create", Resource: "pods"}, // server dry-run only
		{Verb: "create", Resource: "serviceaccounts", Subresource: "token"},
	}
	ps = append(ps, kube.AccountPermissions...)
	if mode == model.ModeProvision {
		ps = append(ps,
			kube.Permission{Verb: "list", Resource: "pods"},
			kube.Permission{Verb: "create", Resource: "resourcequotas"},
			kube.Permission{Verb: "get", Resource: "resourcequotas"},
			kube.Permission{Verb: "delete", Resource: "resourcequotas"})
	}
	return ps
}

// Input: the tenant namespaces, and a way to act as a tenant's service account.
type Input struct {
	Namespaces []string
	Image      string
	// AsServiceAccount returns a client authenticated as ns/sa with a real token.
	AsServiceAccount func(ctx context.Context, ns, sa string) (kubernetes.Interface, error)
	// Provisioned: the namespaces are the run's own test tenants, so a
	// temporary quota may be added to them (the pod-count check).
	Provisioned bool
	Labels      map[string]string
	// Kubectl is the repro commands' kubectl, aimed at the checked cluster.
	Kubectl func(args string) string
	// Accounts are the service accounts each namespace's tenant acts as;
	// AccountsErr is why they could not be listed.
	Accounts    []kube.Accounts
	AccountsErr error
}

func run(ctx context.Context, env *layer.Env) layer.Output {
	start := time.Now()
	c := env.Client
	accounts, err := c.TenantAccounts(ctx, env.Roster.TenantNamespaces())
	results := Run(ctx, c.Clientset, Input{Accounts: accounts, AccountsErr: err,
		Namespaces: env.Roster.TenantNamespaces(), Image: env.Probe.Image,
		Provisioned: env.Mode == model.ModeProvision, Labels: env.Labels, Kubectl: c.ReproKubectl,
		AsServiceAccount: func(ctx context.Context, ns, sa string) (kubernetes.Interface, error) {
			cs, _, err := c.AsServiceAccount(ctx, ns, sa, 10*time.Minute)
			return cs, err
		},
	})
	env.Say("quota: quota and LimitRange tried in %.1fs", time.Since(start).Seconds())
	return layer.Output{Results: results}
}

func check(id, name, desc string, want model.APIOutcome) model.Check {
	return model.Check{ID: "quota/" + id, Layer: model.LayerQuota, Name: name, Description: desc, Expected: model.ExpectAPI(want)}
}

var (
	quotaExists = check("resourcequota-present", "ResourceQuota caps CPU, memory and pods",
		"every tenant namespace has a ResourceQuota with hard requests/limits for cpu and memory, and pods", model.APIAdmitted)
	limitRangeExists = check("limitrange-present", "LimitRange sets container defaults",
		"every tenant namespace has a LimitRange with default requests and limits for containers", model.APIAdmitted)
	overCPU = check("over-quota-cpu-rejected", "pod over the CPU quota rejected",
		"a pod asking for more CPU than the quota has left is rejected at admission", model.APIRejected)
	overMemory = check("over-quota-memory-rejected", "pod over the memory quota rejected",
		"a pod asking for more memory than the quota has left is rejected at admission", model.APIRejected)
	defaults = check("limitrange-defaults-applied", "pod without resources gets the defaults",
		"a pod that declares no resources is admitted with the LimitRange's default requests and limits", model.APIAdmitted)
	tenantEdits = check("tenant-cannot-edit-quota", "tenant cannot loosen its quota or LimitRange",
		"none of the tenant's service accounts (default and every account a binding names) may update (PUT), patch, delete, deletecollection or create the namespace's ResourceQuota or LimitRange, or update the quota's status (server dry-run, real tokens)", model.APIForbidden)
)

// nsConcurrency bounds the namespaces tried at once.
const nsConcurrency = 8

// Run tries every check in every tenant namespace.
func Run(ctx context.Context, cs kubernetes.Interface, in Input) []model.Result {
	if in.Kubectl == nil {
		in.Kubectl = func(args string) string { return "kubectl " + args }
	}
	// Every namespace at once (bounded: the pod-count try waits for the
	// quota controller), then gathered in namespace order.
	type nsResults struct {
		listErr            string
		quota, limitRange  string
		cpu, mem, def, cnt attempt
		edits              []attempt
	}
	per := make([]nsResults, len(in.Namespaces))
	par.Do(len(in.Namespaces), nsConcurrency, func(i int) {
		ns, r := in.Namespaces[i], &per[i]
		quotas, err := cs.CoreV1().ResourceQuotas(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			r.listErr = fmt.Sprintf("list resourcequotas in %s: %v", ns, err)
			return
		}
		ranges, err := cs.CoreV1().LimitRanges(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			r.listErr = fmt.Sprintf("list limitranges in %s: %v", ns, err)
			return
		}
		r.quota, r.limitRange = quotaFinding(quotas.Items), limitRangeFinding(ranges.Items)
		r.cpu = overQuota(ctx, cs, in, ns, quotas.Items, ranges.Items, corev1.ResourceCPU)
		r.mem = overQuota(ctx, cs, in, ns, quotas.Items, ranges.Items, corev1.ResourceMemory)
		r.def = tryDefaults(ctx, cs, in, ns, ranges.Items)
		if in.Provisioned {
			r.cnt = tryPodCount(ctx, cs, in, ns)
		}
		if in.AccountsErr != nil {
			r.edits = []attempt{{ns: ns, want: model.APIForbidden, got: model.APIError, note: "find the tenant's service accounts: " + in.AccountsErr.Error(),
				ev: model.Evidence{Action: "list the tenant's bound service accounts", To: ns, Raw: in.AccountsErr.Error(), Attempts: 1}}}
			return
		}
		r.edits = tryEdits(ctx, in, kube.AccountsIn(in.Accounts, ns), quotas.Items, ranges.Items)
	})
	var q presence
	var l presence
	var cpu, mem, def, edits, count results
	for i, ns := range in.Namespaces {
		r := per[i]
		if r.listErr != "" {
			return errored(r.listErr)
		}
		q.add(ns, r.quota)
		l.add(ns, r.limitRange)
		cpu.add(r.cpu)
		mem.add(r.mem)
		def.add(r.def)
		if in.Provisioned {
			count.add(r.cnt)
		}
		for _, e := range r.edits {
			edits.add(e)
		}
	}
	return []model.Result{
		q.result(quotaExists, "ResourceQuota"), l.result(limitRangeExists, "LimitRange"),
		cpu.result(overCPU), mem.result(overMemory), count.resultOrSkip(podCount, "an audit does not change a real tenant's quota, even briefly"),
		def.result(defaults), edits.result(tenantEdits),
	}
}

// quotaFinding says what the namespace's quotas fail to cap ("" when all is capped).
func quotaFinding(quotas []corev1.ResourceQuota) string {
	if len(quotas) == 0 {
		return "no ResourceQuota"
	}
	// "cpu" and "memory" are the older names of requests.cpu and
	// requests.memory. A scoped quota counts only some pods, so it caps
	// nothing for the rest.
	need := []struct {
		key   corev1.ResourceName
		alias corev1.ResourceName
	}{
		{corev1.ResourceRequestsCPU, corev1.ResourceCPU}, {corev1.ResourceRequestsMemory, corev1.ResourceMemory},
		{corev1.ResourceLimitsCPU, ""}, {corev1.ResourceLimitsMemory, ""}, {corev1.ResourcePods, ""},
	}
	var missing []string
	scoped := false
	for _, r := range need {
		found := false
		for _, q := range quotas {
			_, ok := q.Spec.Hard[r.key]
			_, aliased := q.Spec.Hard[r.alias]
			switch {
			case (ok || (r.alias != "" && aliased)) && applies(q):
				found = true
			case ok || (r.alias != "" && aliased):
				scoped = true
			}
		}
		if !found {
			missing = append(missing, string(r.key))
		}
	}
	if len(missing) == 0 {
		return ""
	}
	msg := "ResourceQuota does not cap " + strings.Join(missing, ", ")
	if scoped {
		msg += " (a scoped quota counts only some pods)"
	}
	return msg
}

func limitRangeFinding(ranges []corev1.LimitRange) string {
	for _, lr := range ranges {
		for _, item := range lr.Spec.Limits {
			if item.Type == corev1.LimitTypeContainer && len(item.Default) > 0 && len(item.DefaultRequest) > 0 {
				return ""
			}
		}
	}
	if len(ranges) == 0 {
		return "no LimitRange"
	}
	return "LimitRange sets no container default and defaultRequest"
}

// Outcome reads the API server's answer as the quota layer: a refusal by
// ResourceQuota or LimitRanger is Rejected, an authoriser's refusal is
// Forbidden; any other admission refusal (Pod Security, a webhook) is an
// Error: that plugin answered, so the quota was never asked.
func Outcome(err error) (model.APIOutcome, string) {
	got, raw := kube.Classify(err)
	switch {
	case err == nil:
		return model.APIAdmitted, "admitted"
	case got == model.APIRejected && !quotaRefusal(err.Error()):
		return model.APIError, "refused by another admission plugin, not by quota or LimitRange: " + raw
	}
	return got, raw
}

func quotaRefusal(msg string) bool {
	for _, m := range []string{"exceeded quota", "failed quota", " usage per ", "limit to request ratio"} {
		if strings.Contains(msg, m) {
			return true
		}
	}
	return false
}

// checks in report order.
func checks() []model.Check {
	return []model.Check{quotaExists, limitRangeExists, overCPU, overMemory, podCount, defaults, tenantEdits}
}

func errored(reason string) []model.Result {
	return layer.Results(checks(), model.Errored(reason))
}
