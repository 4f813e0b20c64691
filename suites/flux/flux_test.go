package flux

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
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
// controller's own words as evidence.
func TestLockedDownFluxHolds(t *testing.T) {
	f := features.New("locked-down Flux holds").
		WithLabel("layer", "flux").WithLabel("check", "all").
		Setup(func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			if !fluxInstalled(ctx, t) {
				if suitekit.LocalCluster() {
					t.Fatal("the local cluster has no Flux: `make cluster-up` installs it")
				}
				t.Skip("Flux is not installed on this cluster (the local cluster installs it)")
			}
			return ctx
		}).
		Assess("every check holds", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			rep, res := run(ctx, t)
			for id, r := range res {
				assert.Equal(t, model.VerdictHeld, r.Verdict, "%s: %s", id, r.Reason)
			}
			cross := res["flux/cross-namespace-sourceref-blocked"]
			require.Len(t, cross.Evidence, 1)
			assert.Contains(t, cross.Evidence[0].Raw, "reason=AccessDenied")
			assert.Contains(t, cross.Evidence[0].Raw, fl.BlockedMessage)
			assert.Contains(t, cross.Evidence[0].Repro, "get kustomization -n ")
			assert.Contains(t, res["flux/impersonation-confines-reconciler"].Reason, ":tenant-reconciler")
			assert.Contains(t, res["flux/default-service-account-applies"].Reason, ":default")
			for _, id := range []string{"flux/tenant-objects-set-serviceaccountname", "flux/tenant-sources-in-own-namespace"} {
				assert.Contains(t, res[id].Reason, "0 objects", "provisioned tenants start empty")
			}
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
			if !suitekit.LocalCluster() {
				t.Skip("needs the local cluster, whose kustomize-controller can be redeployed without the lockdown flags (TENANTCHECK_LOCAL_CLUSTER=1)")
			}
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
			if !suitekit.LocalCluster() {
				t.Skip("needs the local cluster, from which Flux can be removed and reinstalled (TENANTCHECK_LOCAL_CLUSTER=1)")
			}
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
			assert.Equal(t, 0, model.ExitCode(rep), "a cluster without Flux is not a failure")
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
