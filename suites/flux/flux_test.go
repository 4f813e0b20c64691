package flux

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	fl "github.com/tenantcheck/tenantcheck/internal/layers/flux"
	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/internal/provision"
	"github.com/tenantcheck/tenantcheck/suites/suitekit"
)

var (
	crds           = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	kustomizations = schema.GroupVersionResource{Group: "kustomize.toolkit.fluxcd.io", Version: "v1", Resource: "kustomizations"}
)

func dyn(ctx context.Context, t *testing.T) dynamic.Interface {
	d, err := dynamic.NewForConfig(suitekit.Client(ctx, t).Config)
	require.NoError(t, err)
	return d
}

func fluxInstalled(ctx context.Context, t *testing.T) bool {
	_, err := dyn(ctx, t).Resource(crds).Get(ctx, "kustomizations.kustomize.toolkit.fluxcd.io", metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false
	}
	require.NoError(t, err)
	return true
}

// run executes the engine with only the Flux layer and returns its report
// and the results by check ID; every check reports exactly once.
func run(ctx context.Context, t *testing.T) (*model.Report, map[string]model.Result) {
	opts := suitekit.Options(t)
	opts.Layers = []model.Layer{model.LayerFlux}
	rep := suitekit.Execute(ctx, t, opts)
	out := map[string]model.Result{}
	for _, r := range rep.Results {
		out[r.CheckID] = r
	}
	require.Len(t, out, len(fl.CheckIDs()), "every Flux check reports")
	return rep, out
}

// noneLeft asserts the run left no Kustomization and no namespace behind.
func noneLeft(ctx context.Context, t *testing.T) {
	assert.Empty(t, suitekit.LeftNamespaces(ctx, t))
	l, err := dyn(ctx, t).Resource(kustomizations).Namespace("").List(ctx, metav1.ListOptions{LabelSelector: provision.Selector("")})
	require.NoError(t, err)
	assert.Empty(t, l.Items, "no Kustomization of tenantcheck is left")
}

// Must show 1: locked-down controllers, and the layer holds, with the
// controller's own words as evidence. The object checks have nothing to
// read in the run's new tenants, so they are Skipped with the reason
// rather than held vacuously.
func TestLockedDownFluxHolds(t *testing.T) {
	f := features.New("locked-down Flux holds").
		WithLabel("layer", "flux").WithLabel("check", "all").
		Setup(func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			if !fluxInstalled(ctx, t) {
				if suitekit.LocalCluster() || os.Getenv("CI") != "" {
					t.Fatal("no Flux on this cluster: the local cluster installs it (`make cluster-up`), and CI runs on the local cluster")
				}
				t.Skip("Flux is not installed on this cluster (the local cluster installs it)")
			}
			return ctx
		}).
		Assess("every check holds", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			rep, res := run(ctx, t)
			objects := map[string]bool{}
			for _, c := range fl.ObjectChecks {
				objects[c.ID] = true
				assert.Equal(t, model.VerdictSkipped, res[c.ID].Verdict, "%s: %s", c.ID, res[c.ID].Reason)
				assert.Contains(t, res[c.ID].Reason, "in the tenant namespaces to inspect", "provisioned tenants start empty")
				assert.Contains(t, res[c.ID].Observed, "0 objects")
			}
			for id, r := range res {
				if !objects[id] {
					assert.Equal(t, model.VerdictHeld, r.Verdict, "%s: %s", id, r.Reason)
				}
			}
			cross := res["flux/cross-namespace-sourceref-blocked"]
			require.Len(t, cross.Evidence, 1)
			assert.Contains(t, cross.Evidence[0].Raw, "reason=AccessDenied")
			assert.Contains(t, cross.Evidence[0].Raw, fl.BlockedMessage)
			assert.Contains(t, cross.Evidence[0].Repro, "get kustomization -n ")
			assert.Contains(t, res["flux/impersonation-confines-reconciler"].Reason, ":tenant-reconciler")
			assert.Contains(t, res["flux/default-service-account-applies"].Reason, ":default")
			assert.Equal(t, 0, model.ExitCode(rep))
			noneLeft(ctx, t)
			return ctx
		}).Feature()
	testenv.Test(t, f)
}

// Must show 2: the controller without the lockdown flags. The static checks
// name the missing flags; the controller itself reconciles another tenant's
// source and applies into another tenant with its own rights. The tenant's
// reconciler stays confined: impersonation does not depend on the flags.
func TestUnlockedFluxIsCaught(t *testing.T) {
	f := features.New("Flux without the lockdown flags is caught").
		WithLabel("layer", "flux").WithLabel("check", "lockdown").
		Setup(func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			suitekit.NeedLocalCluster(t, "needs the local cluster, whose kustomize-controller can be redeployed without the lockdown flags")
			suitekit.SetFluxLockdown(t, false)
			return ctx
		}).
		Assess("(a) and (c) break with the controller's evidence", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			rep, res := run(ctx, t)
			for _, c := range fl.ControllerChecks {
				r := res[c.ID]
				assert.Equal(t, model.VerdictBroken, r.Verdict, "%s: %s", c.ID, r.Reason)
				assert.Contains(t, r.Reason, "kustomize-controller: --"+c.Flag+" not set")
			}
			cross := res["flux/cross-namespace-sourceref-blocked"]
			assert.Equal(t, model.VerdictBroken, cross.Verdict, cross.Reason)
			require.Len(t, cross.Evidence, 1)
			// The layer judges as soon as the cross-namespace source has been
			// applied: the evidence is either the Ready condition or the
			// ConfigMap it delivered, whichever the controller showed first.
			raw := cross.Evidence[0].Raw
			assert.True(t, strings.Contains(raw, "Ready=True reason=ReconciliationSucceeded: Applied revision: tenantcheck@sha256:") ||
				strings.Contains(raw, "tc-flux-cross-namespace exists"), raw)

			def := res["flux/default-service-account-applies"]
			assert.Equal(t, model.VerdictBroken, def.Verdict, def.Reason)
			assert.Contains(t, def.Reason, "controller's own rights")
			require.Len(t, def.Evidence, 1)
			assert.True(t, strings.Contains(def.Evidence[0].Raw, "tc-flux-default-sa exists"), def.Evidence[0].Raw)

			imp := res["flux/impersonation-confines-reconciler"]
			assert.Equal(t, model.VerdictHeld, imp.Verdict, "serviceAccountName is honoured without the flags: %s", imp.Reason)
			assert.Equal(t, 1, model.ExitCode(rep))
			noneLeft(ctx, t)
			return ctx
		}).
		Teardown(func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			if suitekit.LocalCluster() {
				suitekit.SetFluxLockdown(t, true)
			}
			return ctx
		}).Feature()
	testenv.Test(t, f)
}

// Must show 3: no Flux at all. Every check is Skipped with the reason, and
// the exit code is that of a run where nothing broke.
func TestNoFluxIsSkipped(t *testing.T) {
	f := features.New("no Flux: the layer is skipped").
		WithLabel("layer", "flux").WithLabel("check", "installed").
		Setup(func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			suitekit.NeedLocalCluster(t, "needs the local cluster, from which Flux can be removed and reinstalled")
			suitekit.SetFluxInstalled(t, false)
			return ctx
		}).
		Assess("every check is Skipped: Flux is not installed", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			require.False(t, fluxInstalled(ctx, t))
			rep, res := run(ctx, t)
			for id, r := range res {
				assert.Equal(t, model.Skipped(fl.NotInstalled), r.Judgement, id)
			}
			for _, l := range rep.Layers {
				if l.Layer == model.LayerFlux {
					assert.Equal(t, model.VerdictSkipped, l.Verdict)
				}
			}
			assert.Equal(t, model.ExitIncomplete, model.ExitCode(rep), "a cluster without Flux is not a failure, but a run of the flux layer alone then verified nothing: exit 2")
			return ctx
		}).
		Teardown(func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			if suitekit.LocalCluster() {
				suitekit.SetFluxInstalled(t, true)
			}
			return ctx
		}).Feature()
	testenv.Test(t, f)
}

// The ClusterRoleBinding the local cluster gives kustomize-controller
// (hack/localcluster/flux.go), and the one that stands in for it while the
// controller may not impersonate. The stand-in has its own name: if the run
// dies before restoring, `make cluster-up` recreates the original, which it
// could not do over a binding of the same name with another roleRef.
const (
	kcBinding     = "cluster-reconciler-flux-system"
	noImpersonate = "tenantcheck-suite-kc-no-impersonate"
	kcUser        = "system:serviceaccount:flux-system:kustomize-controller"
)

// Must show 4: a controller that may not impersonate. Every apply as the
// tenant's reconciler is then refused as the controller itself, which says
// nothing about the tenant's confinement: the check is Error, never Held.
func TestControllerWithoutImpersonationIsError(t *testing.T) {
	f := features.New("a controller without impersonate proves nothing").
		WithLabel("layer", "flux").WithLabel("check", "impersonation-confines-reconciler").
		Setup(func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			suitekit.NeedLocalCluster(t, "needs the local cluster, whose kustomize-controller binding can be swapped")
			withoutImpersonation(ctx, t)
			return ctx
		}).
		Assess("the reconciler check is Error, naming the controller's refusal", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			rep, res := run(ctx, t)
			imp := res["flux/impersonation-confines-reconciler"]
			// kustomize-controller (v1.x) reports its own refused
			// impersonation as "dry-run failed (Forbidden): failed to get
			// server groups: unknown": a Forbidden that names nobody. It
			// was read as the tenant's refusal (a false Held).
			assert.Equal(t, model.VerdictError, imp.Verdict, imp.Reason)
			assert.Contains(t, imp.Reason, "Forbidden, but the message names no user")
			assert.NotContains(t, imp.Reason, "refused Forbidden as")
			def := res["flux/default-service-account-applies"]
			assert.NotEqual(t, model.VerdictHeld, def.Verdict, "the default account is impersonated too: %s", def.Reason)
			assert.NotEqual(t, model.ExitHeld, model.ExitCode(rep))
			noneLeft(ctx, t)
			return ctx
		}).Feature()
	testenv.Test(t, f)
}

// withoutImpersonation swaps kustomize-controller's cluster-admin binding
// for one to a ClusterRole with every verb but impersonate (and bind,
// escalate), waits until the API server refuses the impersonation, and
// restores the original binding when the test ends.
func withoutImpersonation(ctx context.Context, t *testing.T) {
	cs := suitekit.Client(ctx, t).Clientset
	crbs := cs.RbacV1().ClusterRoleBindings()
	orig, err := crbs.Get(ctx, kcBinding, metav1.GetOptions{})
	require.NoError(t, err, "the local cluster binds kustomize-controller with %s", kcBinding)
	restore := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: orig.Name, Labels: orig.Labels, Annotations: orig.Annotations},
		RoleRef:    orig.RoleRef, Subjects: orig.Subjects,
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := crbs.Create(ctx, restore, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Errorf("restore ClusterRoleBinding %s (`make cluster-up` recreates it): %v", kcBinding, err)
		}
		for _, err := range []error{
			crbs.Delete(ctx, noImpersonate, metav1.DeleteOptions{}),
			cs.RbacV1().ClusterRoles().Delete(ctx, noImpersonate, metav1.DeleteOptions{}),
		} {
			if err != nil && !apierrors.IsNotFound(err) {
				t.Errorf("remove %s: %v", noImpersonate, err)
			}
		}
	})
	_, err = cs.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: noImpersonate},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{"*"}, Resources: []string{"*"},
			Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = crbs.Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: noImpersonate},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: noImpersonate},
		Subjects:   orig.Subjects,
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	require.NoError(t, crbs.Delete(ctx, kcBinding, metav1.DeleteOptions{}))

	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:               kcUser,
		Groups:             []string{"system:serviceaccounts", "system:serviceaccounts:flux-system", "system:authenticated"},
		ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "impersonate", Resource: "serviceaccounts"},
	}}
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		got, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
		if err != nil {
			return false, err
		}
		return !got.Status.Allowed, nil
	})
	require.NoError(t, err, "kustomize-controller may still impersonate after %s was removed", kcBinding)
}
