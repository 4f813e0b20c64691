package rbac

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tenantcheck/tenantcheck/internal/kube"
	"github.com/tenantcheck/tenantcheck/internal/layer"
	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/internal/par"
)

// requestTimeout bounds one request; a hung API server is an Error, not a hang.
const requestTimeout = 20 * time.Second

// Tenant is one tenant and its (run-unique) namespaces; the first namespace
// is the one its identities act from and the one other tenants aim at.
type Tenant = model.TenantRef

// Layer is the RBAC layer as the runner holds it.
var Layer = layer.Layer{
	ID:      model.LayerRBAC,
	Summary: "real TokenRequest tokens of each tenant's accounts try to reach the other tenant and the cluster; a scan of every binding",
	Checks:  checks(),
	// A token of any account of a tenant namespace grants the runner nothing
	// it lacks: it may create pods there, and a pod may run as any account
	// of its namespace.
	Needs: layer.Perms(append([]kube.Permission{
		{Verb: "get", Resource: "serviceaccounts"},
		{Verb: "create", Resource: "serviceaccounts", Subresource: "token"},
	}, kube.AccountPermissions...)...),
	Run: run,
}

// checks in report order: the controls, the checks, the binding scan.
func checks() []model.Check {
	var out []model.Check
	for _, c := range allChecks() {
		out = append(out, c.Check)
	}
	return append(out, bindingsCheck)
}

// Input of the RBAC layer: the tenants to try against each other.
type Input struct {
	Tenants []Tenant
	// Accounts are, per namespace, the service accounts its tenant acts
	// as (kube.TenantAccounts); a namespace it does not name acts as
	// default only.
	Accounts map[string][]string
}

func run(ctx context.Context, env *layer.Env) layer.Output {
	start := time.Now()
	in := Input{Tenants: env.Roster.Tenants(), Accounts: map[string][]string{}}
	accounts, err := env.Client.TenantAccounts(ctx, env.Roster.TenantNamespaces())
	if err != nil {
		return layer.Output{Results: layer.Results(checks(), model.Errored("find the tenants' service accounts: "+err.Error()))}
	}
	for _, a := range accounts {
		in.Accounts[a.Namespace] = a.Names
		if len(a.Untried) > 0 {
			env.Say("rbac: %d more bound accounts of %s not tried: %s", len(a.Untried), a.Namespace, strings.Join(a.Untried, ", "))
		}
	}
	results, pairs := runWithPairs(ctx, env.Client, in)
	env.Say("rbac: tenant tokens tried across tenants in %.1fs", time.Since(start).Seconds())
	return layer.Output{Results: results, TenantPairs: pairs}
}

// Run tries every check with both identities (tenant-reconciler and
// default) of every tenant, against every other tenant, then scans the
// cluster's bindings. It returns one result per check, controls first and
// the binding scan last; a failure to run is an Error result, never a panic
// or a missing result.
func Run(ctx context.Context, c *kube.Client, in Input) []model.Result {
	results, _ := runWithPairs(ctx, c, in)
	return results
}

// runWithPairs is Run with the layer's column of the tenant x tenant summary.
func runWithPairs(ctx context.Context, c *kube.Client, in Input) ([]model.Result, []model.PairVerdict) {
	prefix := c.Kubectl()
	planned, note := mayImpersonate(ctx, c, planIdentities(in.Tenants, in.Accounts))
	ids := login(ctx, c, planned)
	checks := servedChecks(allChecks(), namespacedResources(c))
	attempts := send(ctx, ids, checks, prefix, len(in.Tenants) > RulesFirstAbove)
	results := judgeAll(checks, Controls, attempts)
	if note != "" {
		for i := range results {
			if results[i].CheckID == "rbac/tenant-tokens-authenticate" {
				results[i].Evidence = append(results[i].Evidence, model.Evidence{Action: "impersonate the tenants' users and groups the spec names",
					To: clusterScope, Raw: note, Repro: prefix + " auth can-i impersonate users"})
				results[i].Reason += "; " + note
			}
		}
	}
	return append(results, scanBindings(ctx, c.Clientset, in.Tenants, prefix)), tenantPairs(in.Tenants, checks, attempts)
}

// tenantPairs tallies every cross-tenant attempt (sent or covered by a
// rules review) by the identity's tenant and the tenant of the namespace
// aimed at, judged as its check judges it.
func tenantPairs(tenants []Tenant, checks []Check, attempts map[string][]attempt) []model.PairVerdict {
	tenantOf := map[string]string{}
	for _, t := range tenants {
		for _, ns := range t.Namespaces {
			tenantOf[ns] = t.Name
		}
	}
	failed := controlFailures(Controls, attempts)
	tally := model.NewPairTally(model.LayerRBAC)
	for _, c := range checks {
		if !c.CrossTenant {
			continue
		}
		for _, a := range attempts[c.ID] {
			tally.Add(a.from.Tenant, tenantOf[a.req.To], judgeAttempt(c.Expected.API, a, failed).Verdict)
		}
	}
	return tally.Verdicts()
}

// attempt is one request one identity sent (or could not send), and what
// came back.
type attempt struct {
	from     Identity
	req      Request
	observed model.APIOutcome
	raw      string
	// notSent is why the request was not sent (no token); it wins over
	// everything else when judging.
	notSent string
	// covered says why the request was not needed: the identity's rules
	// review in the namespace aimed at listed no grant (rules first).
	covered  string
	err      error // what Do returned
	duration time.Duration
	repro    string
}

// sendConcurrency bounds the requests in flight: the API server answers
// them in parallel, and 20 tenants send thousands.
const sendConcurrency = 8

// RulesFirstAbove is the tenant count above which the cross-tenant checks
// go rules first: each identity's SelfSubjectRulesReview in each other
// tenant's namespace (the cross-tenant-rules check, always sent) decides
// where the other cross-tenant requests are sent. Where it lists no grant
// and is complete, only the identity's two neighbours (Identity.Sample)
// get the real requests; everywhere else (a grant, an incomplete review, an
// error) every request is sent. 20 tenants sent 10,320 requests without.
const RulesFirstAbove = 10

// rulesCheckID is the check whose answers rules first reads.
const rulesCheckID = "rbac/cross-tenant-rules"

// send runs every request of every check as every identity it applies to,
// at most sendConcurrency at a time. Each attempt keeps its place, so the
// evidence is in the same order as when they ran one by one. rulesFirst:
// see RulesFirstAbove.
func send(ctx context.Context, ids []Identity, checks []Check, prefix string, rulesFirst bool) map[string][]attempt {
	out := map[string][]attempt{}
	var clean map[[2]string]string // (identity, namespace) -> what its rules review said
	if rulesFirst {
		var rules []Check
		for _, c := range checks {
			if c.ID == rulesCheckID {
				rules = append(rules, c)
			}
		}
		sendChecks(ctx, ids, rules, prefix, nil, out)
		clean = map[[2]string]string{}
		for _, a := range out[rulesCheckID] {
			var n noGrants
			if a.notSent == "" && a.observed == model.APIForbidden && errors.As(a.err, &n) && !n.incomplete {
				clean[[2]string{a.from.String(), a.req.To}] = a.raw
			}
		}
		rest := make([]Check, 0, len(checks))
		for _, c := range checks {
			if c.ID != rulesCheckID {
				rest = append(rest, c)
			}
		}
		checks = rest
	}
	sendChecks(ctx, ids, checks, prefix, clean, out)
	return out
}

// sendChecks fills out with the attempts of checks. A cross-tenant request
// whose (identity, namespace) is in clean and not in the identity's sample
// is not sent: its attempt says the rules review covers it.
func sendChecks(ctx context.Context, ids []Identity, checks []Check, prefix string, clean map[[2]string]string, out map[string][]attempt) {
	type job struct {
		check string
		i     int
		id    Identity
		r     Request
	}
	var jobs []job
	for _, c := range checks {
		var as []attempt
		for _, id := range ids {
			if c.Only != "" && c.Only != id.ServiceAccount {
				continue
			}
			for _, ns := range aims(c, id) {
				review, covered := clean[[2]string{id.String(), ns}]
				covered = covered && c.CrossTenant && !slices.Contains(id.Sample, ns)
				for _, r := range c.Requests(id, ns) {
					if covered {
						as = append(as, attempt{from: id, req: r, repro: repro(prefix, id, r.Kubectl),
							covered: "the identity's rules review in " + ns + " lists no grant (" + review + "); requests sent only to its neighbours"})
						continue
					}
					jobs = append(jobs, job{c.ID, len(as), id, r})
					as = append(as, attempt{})
				}
			}
		}
		if len(as) > 0 {
			out[c.ID] = as
		}
	}
	par.Do(len(jobs), sendConcurrency, func(k int) {
		j := jobs[k]
		out[j.check][j.i] = try(ctx, j.id, j.r, prefix) // distinct slots: no lock needed
	})
}

// aims are the namespaces a check is tried against for one identity.
func aims(c Check, id Identity) []string {
	if c.CrossTenant {
		return id.Targets
	}
	return []string{id.Namespace}
}

func try(ctx context.Context, id Identity, r Request, prefix string) attempt {
	a := attempt{from: id, req: r, repro: repro(prefix, id, r.Kubectl)}
	if id.Err != "" {
		a.notSent = id.Err
		return a
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	start := time.Now()
	err := r.Do(ctx)
	a.duration, a.err = time.Since(start), err
	classify := r.Classify
	if classify == nil {
		classify = kube.Classify
	}
	a.observed, a.raw = classify(err)
	return a
}

// namespacedResources are the namespaced resources the API server serves,
// as "group/resource"; nil when discovery fails (the rules review is then
// not narrowed, and may list a cluster-scoped grant as one in the namespace).
func namespacedResources(c *kube.Client) map[string]bool {
	lists, err := c.Clientset.Discovery().ServerPreferredNamespacedResources()
	if err != nil && len(lists) == 0 {
		return nil
	}
	out := map[string]bool{}
	for _, l := range lists {
		gv, _, _ := strings.Cut(l.GroupVersion, "/")
		group := gv
		if !strings.Contains(l.GroupVersion, "/") {
			group = "" // "v1": the core group
		}
		for _, r := range l.APIResources {
			out[group+"/"+r.Name] = true
		}
	}
	return out
}

// mayImpersonate keeps the identities of the spec's users and groups only
// when the runner may impersonate them, and otherwise says, for the
// report, that they were not tried. tenantcheck never mints credentials
// for people; impersonation is the only way to act as them.
func mayImpersonate(ctx context.Context, c *kube.Client, ids []Identity) ([]Identity, string) {
	var people, out []Identity
	for _, id := range ids {
		if id.Person != nil {
			people = append(people, id)
		} else {
			out = append(out, id)
		}
	}
	if len(people) == 0 {
		return ids, ""
	}
	missing, err := c.CheckPermissions(ctx, []kube.Permission{{Verb: "impersonate", Resource: "users"}, {Verb: "impersonate", Resource: "groups"}})
	switch {
	case err != nil:
		return out, fmt.Sprintf("%d user(s)/group(s) of the spec not tried: %v", len(people), err)
	case len(missing) > 0:
		return out, fmt.Sprintf("%d user(s)/group(s) of the spec not tried: the runner may not impersonate (%s); the binding scan still attributes their bindings",
			len(people), kube.MissingPermissionsError(missing))
	}
	var names []string
	for _, p := range people {
		names = append(names, p.String())
	}
	return append(out, people...), "acted as " + strings.Join(names, ", ") + " by impersonation (the runner's own credentials with Impersonate-User/Group headers)"
}
