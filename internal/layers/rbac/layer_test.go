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
	obs := send(context.Background(), ids, allChecks(), "kubectl --context kind-tc")

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
