package rbac

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/tenantcheck/tenantcheck/internal/model"
)

func TestPlanIdentities(t *testing.T) {
	tenants := []Tenant{
		{Name: "a", Namespaces: []string{"a-prod", "a-dev"}},
		{Name: "b", Namespaces: []string{"b-prod"}},
		{Name: "empty"},
		{Name: "c", Namespaces: []string{"c-prod"}},
	}
	accounts := map[string][]string{
		"a-prod": {"default", "tenant-reconciler"},
		"a-dev":  {"default", "ci"},
		"b-prod": {"default", "tenant-reconciler"},
		// c-prod is not named: default only.
	}
	ids := planIdentities(tenants, accounts)
	var got []string
	for _, id := range ids {
		got = append(got, id.String()+" -> "+strings.Join(id.Targets, ","))
	}
	assert.Equal(t, []string{
		"a-prod/default -> b-prod,c-prod", "a-prod/tenant-reconciler -> b-prod,c-prod",
		"a-dev/default -> b-prod,c-prod", "a-dev/ci -> b-prod,c-prod",
		"b-prod/default -> a-prod,a-dev,c-prod", "b-prod/tenant-reconciler -> a-prod,a-dev,c-prod",
		"c-prod/default -> a-prod,a-dev,b-prod",
	}, got, "every namespace of a tenant, every account bound there, aimed at every namespace of the others")
	assert.Equal(t, "system:serviceaccount:a-prod:default", ids[0].User())
}

// Rules first (above ten tenants): each identity's rules review in every
// other tenant's namespace is sent; the other cross-tenant requests go to
// the identity's two neighbours, and everywhere its review lists a grant;
// the rest are covered by the review, in the evidence, and never Broken.
func TestRulesFirst(t *testing.T) {
	var tenants []Tenant
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		tenants = append(tenants, Tenant{Name: n, Namespaces: []string{n + "-prod"}})
	}
	ids := planIdentities(tenants, nil)
	require.Len(t, ids, 5)
	assert.Equal(t, []string{"b-prod", "e-prod"}, ids[0].Sample, "a's neighbours on the ring")
	for i := range ids {
		ids[i].Client = rulesFake(ids[i].User())
	}
	obs := send(context.Background(), ids, allChecks(), "kubectl", true)

	rules := obs[rulesCheckID]
	require.Len(t, rules, 5*4, "every identity reviews every other tenant's namespace")
	list := obs["rbac/cross-tenant-list-secrets"]
	require.Len(t, list, 5*4, "one attempt per identity and target, sent or covered")
	sent := map[string]bool{}
	for _, a := range list {
		key := a.from.Namespace + ">" + a.req.To
		if a.covered == "" {
			sent[key] = true
			continue
		}
		assert.Contains(t, a.covered, "rules review in "+a.req.To+" lists no grant")
		assert.NotContains(t, a.from.Sample, a.req.To, "a neighbour is always sent to")
		assert.NotEqual(t, "d-prod", a.req.To, "a review that lists a grant sends everything")
		ev := evidence(a)
		assert.Equal(t, 0, ev.Attempts)
		assert.Contains(t, ev.Raw, "not sent: ")
	}
	for _, want := range []string{"a-prod>b-prod", "a-prod>e-prod", "a-prod>d-prod", "c-prod>d-prod", "e-prod>d-prod"} {
		assert.True(t, sent[want], want)
	}
	assert.False(t, sent["a-prod>c-prod"], "a and c are not neighbours and c's review lists nothing")
	assert.Len(t, obs["rbac/list-nodes"], 5, "checks of the cluster scope are always sent")
	for _, a := range obs["rbac/list-nodes"] {
		assert.Empty(t, a.covered)
	}

	// The tenant x tenant summary: the fake admits what is sent, so a's
	// neighbours break; a to c, covered only, holds (the tokens' controls
	// pass: the fake admits them too).
	byPair := map[string]model.PairVerdict{}
	for _, p := range tenantPairs(tenants, allChecks(), obs) {
		byPair[p.From+">"+p.To] = p
	}
	require.Len(t, byPair, 5*4)
	assert.Equal(t, model.VerdictBroken, byPair["a>b"].Verdict)
	assert.Equal(t, model.VerdictHeld, byPair["a>c"].Verdict)
	assert.Equal(t, model.LayerRBAC, byPair["a>c"].Layer)

	// Judged: a covered attempt holds, with the count in the reason; the
	// fake admits what is sent, so the sent ones break.
	r := judgeCheck(Checks[0], []attempt{list[1]}, nil)
	require.NotEmpty(t, list[1].covered, "a-prod>c-prod is the second of a's targets")
	assert.Equal(t, model.VerdictHeld, r.Verdict, r.Reason)
	assert.Contains(t, r.Reason, "1 more not sent")
	assert.Equal(t, "covered by rules review x1", r.Observed)
	failed := map[string]string{ids[0].String(): "no token"}
	assert.Equal(t, model.VerdictError, judgeCheck(Checks[0], []attempt{list[1]}, failed).Verdict, "a covered attempt needs the identity's control too")
}

// rulesFake answers as user: its token authenticates, its rules review
// lists a configmaps grant in d-prod only, and it may do what is listed.
func rulesFake(user string) *fake.Clientset {
	cs := fake.NewClientset()
	cs.PrependReactor("create", "selfsubjectreviews", func(clienttesting.Action) (bool, runtime.Object, error) {
		r := &authnv1.SelfSubjectReview{}
		r.Status.UserInfo.Username = user
		return true, r, nil
	})
	cs.PrependReactor("create", "selfsubjectrulesreviews", func(a clienttesting.Action) (bool, runtime.Object, error) {
		rr := a.(clienttesting.CreateAction).GetObject().(*authzv1.SelfSubjectRulesReview)
		if rr.Spec.Namespace == "d-prod" {
			// Someone granted the tenants configmaps in d.
			rr.Status.ResourceRules = []authzv1.ResourceRule{{Verbs: []string{"list"}, Resources: []string{"configmaps"}}}
		}
		return true, rr, nil
	})
	cs.PrependReactor("create", "selfsubjectaccessreviews", func(a clienttesting.Action) (bool, runtime.Object, error) {
		ar := a.(clienttesting.CreateAction).GetObject().(*authzv1.SelfSubjectAccessReview)
		ar.Status.Allowed = true
		return true, ar, nil
	})
	return cs
}

func TestCheckIDs(t *testing.T) {
	ids := CheckIDs()
	assert.Len(t, ids, len(Controls)+len(Checks)+1)
	assert.Equal(t, "rbac/reconciler-can-manage-own-namespace", ids[0])
	assert.Equal(t, "rbac/no-broad-bindings", ids[len(ids)-1])
	unique := map[string]bool{}
	for _, c := range allChecks() {
		assert.False(t, unique[c.ID], "duplicate %s", c.ID)
		unique[c.ID] = true
		assert.Equal(t, model.LayerRBAC, c.Layer)
		assert.NoError(t, c.Expected.Validate(), c.ID)
		assert.NotEmpty(t, c.Description, c.ID)
	}
}

// send builds the requests each identity makes; the fake clientset admits
// everything, so this tests only our request building: where each request
// goes, who sends it, and that no check persists anything.
func TestSendBuildsRequests(t *testing.T) {
	csA, csB := fake.NewClientset(), fake.NewClientset()
	ids := []Identity{reconcilerA, defaultA, reconcilerB}
	ids[0].Client, ids[1].Client, ids[2].Client = csA, csA, csB
	csA.PrependReactor("create", "selfsubjectreviews", func(clienttesting.Action) (bool, runtime.Object, error) {
		r := &authnv1.SelfSubjectReview{}
		r.Status.UserInfo.Username = "system:serviceaccount:" + nsA + ":someone-else"
		return true, r, nil
	})
	obs := send(context.Background(), ids, allChecks(), "kubectl --context kind-tc", false)

	require.Len(t, obs[Controls[0].ID], 4, "two requests for each of the two reconcilers, none for default")
	require.Len(t, obs[Controls[1].ID], 3, "every account's token is checked")
	for _, c := range Checks {
		require.Len(t, obs[c.ID], 3*len(c.Requests(ids[0], nsB)), "%s: every identity tries it against its one target", c.ID)
	}
	list := obs["rbac/cross-tenant-list-secrets"][2]
	assert.Equal(t, "list secrets in "+nsA, list.req.Action, "tenant b aims at tenant a")
	assert.Equal(t, "kubectl --context kind-tc get secrets -n "+nsA+" --as=system:serviceaccount:"+nsB+":tenant-reconciler", list.repro)
	assert.Equal(t, model.APIAdmitted, list.observed)

	bind := obs["rbac/bind-cluster-admin"][1]
	assert.Equal(t, nsA, bind.req.To, "cluster-admin is bound in the identity's own namespace")
	assert.Contains(t, bind.repro, "--serviceaccount="+nsA+":default -n "+nsA+" --dry-run=server")

	// The fakes have no REST client nor rest config, and the token names
	// someone else: those requests must end as Errors, not panic.
	assert.Equal(t, model.APIError, obs["rbac/cross-tenant-exec"][0].observed)
	assert.Equal(t, model.APIError, obs["rbac/impersonate"][0].observed)
	assert.Equal(t, model.APIError, obs[Controls[1].ID][1].observed)
	assert.Contains(t, obs[Controls[1].ID][1].raw, `the token authenticated as "system:serviceaccount:`+nsA+`:someone-else", not "system:serviceaccount:`+nsA+`:default"`)

	for _, a := range append(csA.Actions(), csB.Actions()...) {
		assertDryRun(t, a)
	}
}

// assertDryRun: every create and patch is a server dry-run, except the
// TokenRequest, which persists nothing anyway.
func assertDryRun(t *testing.T, a clienttesting.Action) {
	t.Helper()
	what := a.GetVerb() + " " + a.GetResource().Resource + "/" + a.GetSubresource()
	switch act := a.(type) {
	case clienttesting.CreateActionImpl:
		switch a.GetResource().Resource {
		case "selfsubjectreviews", "selfsubjectrulesreviews", "selfsubjectaccessreviews": // questions, never persisted
			return
		}
		if a.GetSubresource() == "token" {
			return
		}
		assert.Equal(t, []string{"All"}, act.CreateOptions.DryRun, what)
	case clienttesting.PatchActionImpl:
		assert.Equal(t, []string{"All"}, act.PatchOptions.DryRun, what)
	case clienttesting.UpdateActionImpl:
		assert.Equal(t, []string{"All"}, act.UpdateOptions.DryRun, what)
	case clienttesting.ListActionImpl, clienttesting.GetActionImpl:
	default:
		t.Errorf("unexpected action %s (%T)", what, a)
	}
}

func TestCandidates(t *testing.T) {
	rules := []authzv1.ResourceRule{
		{Verbs: []string{"create"}, APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"selfsubjectaccessreviews", "selfsubjectrulesreviews"}},
		{Verbs: []string{"create"}, APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"selfsubjectreviews"}},
		{Verbs: []string{"get", "list"}, APIGroups: []string{""}, Resources: []string{"configmaps", "pods/log"}},
		{Verbs: []string{"*"}, APIGroups: []string{"apps"}, Resources: []string{"deployments"}, ResourceNames: []string{"web"}},
	}
	var got []string
	for _, a := range candidates(rules, nil) {
		got = append(got, describeAttrs(a))
	}
	assert.Equal(t, []string{"get configmaps", "list configmaps", "get pods/log", "list pods/log", "* deployments.apps web"}, got,
		"self-review is everyone's; every other rule is asked as itself")
	got = nil
	for _, a := range candidates(rules, map[string]bool{"/configmaps": true}) {
		got = append(got, describeAttrs(a))
	}
	assert.Equal(t, []string{"get configmaps", "list configmaps"}, got, "only namespaced resources, once they are known")
}

func TestRulesInClassify(t *testing.T) {
	r := rulesIn(nil)(Identity{}, "b")
	got, raw := r.Classify(grantsFound{grants: []string{"get configmaps"}})
	assert.Equal(t, model.APIAdmitted, got)
	assert.Equal(t, "may get configmaps", raw)
	got, raw = r.Classify(noGrants{incomplete: true})
	assert.Equal(t, model.APIForbidden, got)
	assert.Contains(t, raw, "incomplete")
	got, _ = r.Classify(errors.New("connection refused"))
	assert.Equal(t, model.APIError, got)
}

func TestPeopleIdentities(t *testing.T) {
	tenants := []Tenant{
		{Name: "a", Namespaces: []string{"a-prod"}, Users: []string{"alice@example.com"}, Groups: []string{"team-a"}},
		{Name: "b", Namespaces: []string{"b-prod"}},
	}
	ids := planIdentities(tenants, nil)
	var got []string
	for _, id := range ids {
		got = append(got, id.String()+" as "+id.User()+" ->"+id.asFlags())
	}
	assert.Equal(t, []string{
		"a-prod/default as system:serviceaccount:a-prod:default -> --as=system:serviceaccount:a-prod:default",
		"user alice@example.com as alice@example.com -> --as=alice@example.com",
		"group team-a as tenantcheck:group-probe:a -> --as=tenantcheck:group-probe:a --as-group=team-a",
		"b-prod/default as system:serviceaccount:b-prod:default -> --as=system:serviceaccount:b-prod:default",
	}, got)
	assert.Equal(t, "--group=team-a", ids[2].SubjectFlag())
	assert.Equal(t, []string{"b-prod"}, ids[1].Targets)
}
