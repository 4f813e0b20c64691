package rbac

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authzv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/tenantcheck/tenantcheck/internal/baseline"
	rbaclayer "github.com/tenantcheck/tenantcheck/internal/layers/rbac"
	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/internal/runner"
	"github.com/tenantcheck/tenantcheck/internal/spec"
	"github.com/tenantcheck/tenantcheck/suites/suitekit"
)

type hook = func(context.Context, kubernetes.Interface, *runner.Run) error

// run executes the RBAC layer alone, with h applied after provisioning,
// and returns the results by check ID.
func run(ctx context.Context, t *testing.T, h hook) map[string]model.Result {
	opts := suitekit.Options(t)
	opts.Layers = []model.Layer{model.LayerRBAC}
	opts.AfterProvision = h
	rep := suitekit.Execute(ctx, t, opts)
	out := map[string]model.Result{}
	for _, r := range rep.Results {
		out[r.CheckID] = r
	}
	require.Len(t, out, len(rbaclayer.CheckIDs()), "every check, both positive controls and the binding scan report")
	return out
}

// brokenIDs are the checks that broke, sorted; any verdict other than Held
// or Broken fails the test, since it means the suite proved nothing.
func brokenIDs(t *testing.T, res map[string]model.Result) []string {
	t.Helper()
	var out []string
	for id, r := range res {
		switch r.Verdict {
		case model.VerdictBroken:
			out = append(out, id)
		case model.VerdictHeld:
		default:
			t.Errorf("%s: %s: %s", id, r.Verdict, r.Reason)
		}
	}
	slices.Sort(out)
	return out
}

// The guide's baseline: both identities of both tenants are refused every
// break-out, both positive controls pass, and no binding is too broad.
func TestBaselineHolds(t *testing.T) {
	f := features.New("baseline tenants stay inside their namespaces").
		WithLabel("layer", "rbac").WithLabel("check", "all").
		Assess("every RBAC check holds", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			res := run(ctx, t, nil)
			assert.Empty(t, brokenIDs(t, res))
			for _, id := range []string{"rbac/reconciler-can-manage-own-namespace", "rbac/tenant-tokens-authenticate"} {
				assert.Equal(t, model.VerdictHeld, res[id].Verdict, "positive control %s: %s", id, res[id].Reason)
			}
			assert.Equal(t, 4, res["rbac/cross-tenant-list-secrets"].Attempts, "two tenants x two identities, each against the other tenant")
			for id, r := range res {
				for _, ev := range r.Evidence {
					assert.NotContains(t, ev.Raw+ev.Repro, "eyJ", "%s: evidence must never carry a token", id)
				}
			}
			return ctx
		}).Feature()
	testenv.Test(t, f)
}

// A RoleBinding in tenant-b's namespace that lets tenant-a's reconciler read
// secrets: exactly the two secret checks and the binding scan break.
func TestCrossTenantRoleBindingIsCaught(t *testing.T) {
	f := features.New("a RoleBinding granting another tenant's reconciler secrets is caught").
		WithLabel("layer", "rbac").WithLabel("check", "cross-tenant-list-secrets").
		Assess("exactly the secret checks and the binding scan break", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			var nsA, nsB string
			res := run(ctx, t, func(ctx context.Context, cs kubernetes.Interface, r *runner.Run) error {
				nsA, nsB = r.Namespace("tenant-a-prod"), r.Namespace("tenant-b-prod")
				return leakSecrets(ctx, cs, r, nsA, nsB)
			})
			assert.Equal(t, []string{"rbac/cross-tenant-get-secret", "rbac/cross-tenant-list-secrets", "rbac/cross-tenant-rules", "rbac/no-broad-bindings"}, brokenIDs(t, res))
			leaker := nsA + "/" + baseline.ReconcilerName
			assert.Contains(t, res["rbac/cross-tenant-rules"].Reason, leaker+": list its rules in "+nsB, "the rules review names the grant")
			for _, e := range res["rbac/cross-tenant-rules"].Evidence {
				if e.From == leaker {
					assert.Equal(t, "may get secrets, list secrets", e.Raw)
				}
			}
			assert.Contains(t, res["rbac/cross-tenant-list-secrets"].Reason, leaker+": list secrets in "+nsB+": admitted, expected forbidden")
			assert.NotContains(t, res["rbac/cross-tenant-list-secrets"].Reason, nsA+"/default", "the default account got nothing")
			assert.Contains(t, res["rbac/no-broad-bindings"].Reason, "RoleBinding "+nsB+"/tc-leak binds ServiceAccount "+leaker)
			return ctx
		}).Feature()
	testenv.Test(t, f)
}

func leakSecrets(ctx context.Context, cs kubernetes.Interface, r *runner.Run, nsA, nsB string) error {
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "tc-leak", Namespace: nsB, Labels: r.Labels},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "list"}}}}
	if _, err := cs.RbacV1().Roles(nsB).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		return err
	}
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "tc-leak", Namespace: nsB, Labels: r.Labels},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: baseline.ReconcilerName, Namespace: nsA}},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "tc-leak"}}
	if _, err := cs.RbacV1().RoleBindings(nsB).Create(ctx, rb, metav1.CreateOptions{}); err != nil {
		return err
	}
	return waitGranted(ctx, cs, nsA, baseline.ReconcilerName, "list", "secrets", nsB)
}

// A ClusterRoleBinding of tenant-a's reconciler to ClusterRole view: it can
// now read configmaps and pods everywhere and list namespaces (view grants
// namespaces get/list/watch), but still no secrets (view excludes them).
func TestClusterRoleBindingToViewIsCaught(t *testing.T) {
	f := features.New("a ClusterRoleBinding of a tenant to view is caught").
		WithLabel("layer", "rbac").WithLabel("check", "no-broad-bindings").
		Assess("the read checks and the binding scan break, secrets hold", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			var crbName string
			res := run(ctx, t, func(ctx context.Context, cs kubernetes.Interface, r *runner.Run) error {
				crbName = "tc-" + r.ID + "-view"
				return bindView(ctx, t, cs, r, crbName)
			})
			assert.Equal(t, []string{
				"rbac/cross-tenant-list-configmaps", "rbac/cross-tenant-list-pods", "rbac/cross-tenant-rules", "rbac/list-namespaces", "rbac/no-broad-bindings",
			}, brokenIDs(t, res))
			assert.Equal(t, model.VerdictHeld, res["rbac/cross-tenant-list-secrets"].Verdict, "view excludes secrets")
			assert.Contains(t, res["rbac/no-broad-bindings"].Reason, "ClusterRoleBinding "+crbName)
			assert.Contains(t, res["rbac/no-broad-bindings"].Reason, "to ClusterRole view")
			return ctx
		}).Feature()
	testenv.Test(t, f)
}

// bindView binds tenant-a's reconciler to view cluster-wide. The binding is
// cluster-scoped, so deleting the run's namespaces does not remove it: the
// test deletes it itself, whatever happens.
func bindView(ctx context.Context, t *testing.T, cs kubernetes.Interface, r *runner.Run, name string) error {
	nsA := r.Namespace("tenant-a-prod")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err := cs.RbacV1().ClusterRoleBindings().Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete ClusterRoleBinding %s: %v", name, err)
		}
	})
	crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: r.Labels},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: baseline.ReconcilerName, Namespace: nsA}},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"}}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil {
		return err
	}
	return waitGranted(ctx, cs, nsA, baseline.ReconcilerName, "list", "configmaps", r.Namespace("tenant-b-prod"))
}

// waitGranted polls a SubjectAccessReview until the authoriser sees a grant
// the hook just made: RBAC reads bindings through an informer cache, so a
// check sent the same instant could still be refused and the test would
// flake instead of fail.
func waitGranted(ctx context.Context, cs kubernetes.Interface, saNS, sa, verb, resource, ns string) error {
	user := "system:serviceaccount:" + saNS + ":" + sa
	groups := []string{"system:serviceaccounts", "system:serviceaccounts:" + saNS, "system:authenticated"}
	return wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		sar := &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{User: user, Groups: groups,
			ResourceAttributes: &authzv1.ResourceAttributes{Namespace: ns, Verb: verb, Resource: resource}}}
		got, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
		if err != nil {
			return false, err
		}
		return got.Status.Allowed, nil
	})
}

// Must show 4: a second account of tenant-a (not one the guide defines)
// bound to edit in tenant-b. The layer acts as it, with its own token, and
// the cross-tenant checks break naming it, not the guide's accounts.
func TestSecondAccountBoundInOtherTenantIsCaught(t *testing.T) {
	f := features.New("a second tenant account bound to edit in the other tenant").
		WithLabel("layer", "rbac").WithLabel("check", "cross-tenant-list-secrets").
		Assess("the cross-tenant checks break naming that account", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			var nsA, nsB string
			fixtures := suitekit.Fixtures(t, "cross-tenant-edit")
			res := run(ctx, t, func(ctx context.Context, cs kubernetes.Interface, r *runner.Run) error {
				nsA, nsB = r.Namespace("tenant-a-prod"), r.Namespace("tenant-b-prod")
				return fixtures(ctx, cs, r)
			})
			broken := brokenIDs(t, res)
			for _, id := range []string{"rbac/cross-tenant-list-secrets", "rbac/cross-tenant-get-secret", "rbac/cross-tenant-list-configmaps",
				"rbac/cross-tenant-list-pods", "rbac/cross-tenant-update-configmap", "rbac/cross-tenant-create-pod",
				"rbac/cross-tenant-exec", "rbac/cross-tenant-attach", "rbac/cross-tenant-rules", "rbac/no-broad-bindings"} {
				assert.Contains(t, broken, id)
			}
			reporting := nsA + "/reporting"
			for _, id := range broken {
				if id == "rbac/no-broad-bindings" {
					continue
				}
				assert.Contains(t, res[id].Reason, reporting+": ", id)
				assert.NotContains(t, res[id].Reason, nsA+"/default:", id)
				assert.NotContains(t, res[id].Reason, nsA+"/tenant-reconciler:", id)
			}
			assert.Contains(t, res["rbac/cross-tenant-list-secrets"].Reason, reporting+": list secrets in "+nsB+": admitted, expected forbidden")
			assert.Contains(t, res["rbac/no-broad-bindings"].Reason, "RoleBinding "+nsB+"/reporting-edit binds ServiceAccount "+reporting)
			assert.Equal(t, model.VerdictHeld, res["rbac/tenant-tokens-authenticate"].Verdict, "the new account's token is proven too")
			assert.Contains(t, res["rbac/tenant-tokens-authenticate"].Observed, "Admitted x5", "default and tenant-reconciler of both tenants, and reporting")
			return ctx
		}).Feature()
	testenv.Test(t, f)
}

// Must show 2 (namespace): an account allowed to update (PUT) its own
// namespace, but not to patch it, can relabel it to privileged: caught,
// with the PUT in the evidence.
func TestNamespaceUpdateRoleIsCaught(t *testing.T) {
	f := features.New("a Role granting update on the tenant's own namespace").
		WithLabel("layer", "rbac").WithLabel("check", "relabel-own-namespace").
		Assess("relabel-own-namespace breaks on the PUT, naming the account", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			var nsA string
			fixtures := suitekit.Fixtures(t, "quota-editor-role")
			res := run(ctx, t, func(ctx context.Context, cs kubernetes.Interface, r *runner.Run) error {
				nsA = r.Namespace("tenant-a-prod")
				return fixtures(ctx, cs, r)
			})
			assert.Equal(t, []string{"rbac/relabel-own-namespace"}, brokenIDs(t, res))
			reason := res["rbac/relabel-own-namespace"].Reason
			assert.Contains(t, reason, nsA+"/ci-deployer: update (PUT) namespace "+nsA)
			assert.NotContains(t, reason, "label namespace", "patch is not granted")
			var put bool
			for _, e := range res["rbac/relabel-own-namespace"].Evidence {
				if e.From == nsA+"/ci-deployer" && strings.HasPrefix(e.Action, "update (PUT) namespace") {
					put = true
					assert.Contains(t, e.Repro, "auth can-i update namespaces/"+nsA)
				}
			}
			assert.True(t, put, "the PUT is in the evidence")
			return ctx
		}).Feature()
	testenv.Test(t, f)
}

// A person of tenant-a, named in the spec, bound to edit in tenant-b: the
// binding scan attributes it to tenant-a, and the layer acts as the person
// (impersonation: the suite's runner may) and breaks naming them. The
// spec's group, bound to nothing, holds.
func TestTenantUserBoundInOtherTenantIsCaught(t *testing.T) {
	f := features.New("a tenant's user bound to edit in the other tenant").
		WithLabel("layer", "rbac").WithLabel("check", "cross-tenant-list-secrets").
		Assess("the person is acted as and named", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			s := spec.Default()
			s.Tenants[0].Users = []string{"alice@example.com"}
			s.Tenants[0].Groups = []string{"team-a"}
			opts := suitekit.Options(t)
			opts.Spec = s
			opts.Layers = []model.Layer{model.LayerRBAC}
			opts.AfterProvision = suitekit.Fixtures(t, "user-edit-in-other-tenant")
			rep := suitekit.Execute(ctx, t, opts)
			res := map[string]model.Result{}
			for _, r := range rep.Results {
				res[r.CheckID] = r
			}
			for _, id := range []string{"rbac/cross-tenant-list-secrets", "rbac/cross-tenant-create-pod", "rbac/cross-tenant-rules", "rbac/no-broad-bindings"} {
				assert.Equal(t, model.VerdictBroken, res[id].Verdict, id)
			}
			assert.Contains(t, res["rbac/cross-tenant-list-secrets"].Reason, "user alice@example.com: list secrets in ")
			assert.NotContains(t, res["rbac/cross-tenant-list-secrets"].Reason, "group team-a")
			assert.Contains(t, res["rbac/no-broad-bindings"].Reason, "binds User alice@example.com to ClusterRole edit: tenant tenant-a's identity")
			tokens := res["rbac/tenant-tokens-authenticate"]
			assert.Equal(t, model.VerdictHeld, tokens.Verdict, tokens.Reason)
			assert.Contains(t, tokens.Reason, "acted as user alice@example.com, group team-a by impersonation")
			for _, e := range res["rbac/cross-tenant-list-secrets"].Evidence {
				if e.From == "group team-a" {
					assert.Contains(t, e.Repro, "--as=tenantcheck:group-probe:tenant-a --as-group=team-a")
				}
			}
			return ctx
		}).Feature()
	testenv.Test(t, f)
}

// Rules first (issue 16): above ten tenants the cross-tenant requests go to
// each identity's two neighbours, and wherever its rules review lists a
// grant. A secrets grant of t03's reconciler in t09 (not neighbours) is
// still caught by the real requests, named; the other pairs are covered by
// their reviews, counted in the reasons and kept in the evidence.
func TestRulesFirstCatchesAFarGrant(t *testing.T) {
	f := features.New("twelve tenants, rules first").
		WithLabel("layer", "rbac").WithLabel("check", "rules-first").
		Assess("a grant between far tenants is caught; the rest is covered", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			opts := suitekit.Options(t)
			opts.Layers = []model.Layer{model.LayerRBAC}
			opts.Spec = suitekit.TenantsSpec(12)
			var nsA, nsB string
			opts.AfterProvision = func(ctx context.Context, cs kubernetes.Interface, r *runner.Run) error {
				nsA, nsB = r.Namespace("t03-prod"), r.Namespace("t09-prod")
				return leakSecrets(ctx, cs, r, nsA, nsB)
			}
			rep := suitekit.Execute(ctx, t, opts)
			res := map[string]model.Result{}
			for _, r := range rep.Results {
				res[r.CheckID] = r
			}
			assert.Equal(t, []string{"rbac/cross-tenant-get-secret", "rbac/cross-tenant-list-secrets", "rbac/cross-tenant-rules", "rbac/no-broad-bindings"}, brokenIDs(t, res))
			leaker := nsA + "/" + baseline.ReconcilerName
			assert.Contains(t, res["rbac/cross-tenant-list-secrets"].Reason, leaker+": list secrets in "+nsB+": admitted, expected forbidden")
			rules := res["rbac/cross-tenant-rules"]
			assert.Equal(t, 12*2*11, rules.Attempts, "every identity's review in every other tenant's namespace is sent")
			cm := res["rbac/cross-tenant-list-configmaps"]
			assert.Equal(t, model.VerdictHeld, cm.Verdict, cm.Reason)
			assert.Equal(t, 12*2*2+1, cm.Attempts, "sent: each identity to its two neighbours, and the leaker to t09")
			assert.Len(t, cm.Evidence, 12*2*11, "every pair is in the evidence, sent or covered")
			assert.Contains(t, cm.Reason, fmt.Sprintf("%d more not sent", 12*2*11-(12*2*2+1)))
			assert.Contains(t, cm.Observed, fmt.Sprintf("covered by rules review x%d", 12*2*11-(12*2*2+1)))
			return ctx
		}).Feature()
	testenv.Test(t, f)
}

// Rules first (above ten tenants) meets the realistic fixtures: a second
// account of t02 bound to edit in t08 (not its neighbour), and an account
// of t05 that may PUT its own namespace. Both are found as with two
// tenants: the review in t08 lists the grant, so every request there is
// sent and breaks naming the account; the relabel check is never covered.
func TestRulesFirstMeetsRealisticFixtures(t *testing.T) {
	f := features.New("twelve tenants, rules first, realistic fixtures").
		WithLabel("layer", "rbac").WithLabel("check", "rules-first").
		Assess("the fixtures' grants are caught, named, as with two tenants", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			opts := suitekit.Options(t)
			opts.Layers = []model.Layer{model.LayerRBAC}
			opts.Spec = suitekit.TenantsSpec(12)
			var n02, n08, n05 string
			opts.AfterProvision = func(ctx context.Context, cs kubernetes.Interface, r *runner.Run) error {
				n02, n08, n05 = r.Namespace("t02-prod"), r.Namespace("t08-prod"), r.Namespace("t05-prod")
				if err := suitekit.ApplyFixtureTo(ctx, t, "cross-tenant-edit", n02, n08); err != nil {
					return err
				}
				return suitekit.ApplyFixtureTo(ctx, t, "quota-editor-role", n05, r.Namespace("t06-prod"))
			}
			rep := suitekit.Execute(ctx, t, opts)
			res := map[string]model.Result{}
			for _, r := range rep.Results {
				res[r.CheckID] = r
			}
			broken := brokenIDs(t, res)
			for _, id := range []string{"rbac/cross-tenant-list-secrets", "rbac/cross-tenant-get-secret", "rbac/cross-tenant-list-configmaps",
				"rbac/cross-tenant-list-pods", "rbac/cross-tenant-update-configmap", "rbac/cross-tenant-create-pod",
				"rbac/cross-tenant-exec", "rbac/cross-tenant-attach", "rbac/cross-tenant-rules", "rbac/no-broad-bindings",
				"rbac/relabel-own-namespace"} {
				assert.Contains(t, broken, id)
			}
			reporting := n02 + "/reporting"
			assert.Contains(t, res["rbac/cross-tenant-list-secrets"].Reason, reporting+": list secrets in "+n08+": admitted, expected forbidden")
			for _, id := range broken {
				if strings.HasPrefix(id, "rbac/cross-tenant-") {
					assert.Contains(t, res[id].Reason, reporting+": ", id)
					assert.NotContains(t, res[id].Reason, n02+"/default:", "%s: the guide's accounts hold", id)
				}
			}
			assert.Contains(t, res["rbac/relabel-own-namespace"].Reason, n05+"/ci-deployer: update (PUT) namespace "+n05)
			assert.Contains(t, res["rbac/cross-tenant-list-secrets"].Observed, "covered by rules review", "rules first was at work")
			for _, e := range res["rbac/cross-tenant-list-secrets"].Evidence {
				if e.From == reporting && e.To == n08 {
					assert.Equal(t, 1, e.Attempts, "the grant's namespace is never covered by the review: the request is sent")
					assert.Equal(t, model.VerdictBroken, e.Verdict)
				}
			}
			return ctx
		}).Feature()
	testenv.Test(t, f)
}
