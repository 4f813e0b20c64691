package quota

import (
	"context"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/tenantcheck/tenantcheck/internal/baseline"
	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/internal/runner"
	"github.com/tenantcheck/tenantcheck/suites/suitekit"
)

// brokenAfter runs the quota layer with hook applied after provisioning and
// returns the IDs of the checks that broke; every other check must hold.
func brokenAfter(ctx context.Context, t *testing.T, hook func(context.Context, kubernetes.Interface, *runner.Run) error) []string {
	opts := suitekit.Options(t)
	opts.Layers = []model.Layer{model.LayerQuota}
	opts.AfterProvision = hook
	rep := suitekit.Execute(ctx, t, opts)
	require.Len(t, rep.Results, 7)
	var broken []string
	for _, r := range rep.Results {
		switch r.Verdict {
		case model.VerdictBroken:
			broken = append(broken, r.CheckID)
		case model.VerdictHeld:
		default:
			t.Errorf("%s: %s: %s", r.CheckID, r.Verdict, r.Reason)
		}
	}
	sort.Strings(broken)
	return broken
}

func TestBaselineQuotaHolds(t *testing.T) {
	f := features.New("baseline quota and LimitRange hold").
		WithLabel("layer", "quota").WithLabel("check", "all").
		Assess("every check holds", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			assert.Empty(t, brokenAfter(ctx, t, nil))
			return ctx
		}).Feature()
	testenv.Test(t, f)
}

func TestDeletedQuotaIsCaught(t *testing.T) {
	f := features.New("a deleted ResourceQuota is caught").
		WithLabel("layer", "quota").WithLabel("check", "resourcequota-present").
		Assess("exactly the quota checks break", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			got := brokenAfter(ctx, t, func(ctx context.Context, cs kubernetes.Interface, r *runner.Run) error {
				return cs.CoreV1().ResourceQuotas(r.Namespace("tenant-a-prod")).Delete(ctx, baseline.QuotaName("tenant-a"), metav1.DeleteOptions{})
			})
			assert.Equal(t, []string{"quota/over-quota-cpu-rejected", "quota/over-quota-memory-rejected", "quota/resourcequota-present"}, got)
			return ctx
		}).Feature()
	testenv.Test(t, f)
}

func TestDeletedLimitRangeIsCaught(t *testing.T) {
	f := features.New("a deleted LimitRange is caught").
		WithLabel("layer", "quota").WithLabel("check", "limitrange-present").
		Assess("exactly the LimitRange checks break", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			got := brokenAfter(ctx, t, func(ctx context.Context, cs kubernetes.Interface, r *runner.Run) error {
				return cs.CoreV1().LimitRanges(r.Namespace("tenant-b-prod")).Delete(ctx, baseline.LimitRangeName("tenant-b"), metav1.DeleteOptions{})
			})
			assert.Equal(t, []string{"quota/limitrange-defaults-applied", "quota/limitrange-present"}, got)
			return ctx
		}).Feature()
	testenv.Test(t, f)
}

// Must show 1: tenants that differ from the guide — a LimitRange with
// container min/max and a pod max, and a tenant that used all its CPU —
// never read Broken. The check a full tenant cannot decide is an Error
// that says so; every other check holds.
func TestRealisticTenantsNeverBreak(t *testing.T) {
	f := features.New("a LimitRange with min/max and a tenant at its CPU quota").
		WithLabel("layer", "quota").WithLabel("check", "all").
		Assess("nothing breaks; the full tenant's defaults check is Error tenant at quota", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			opts := suitekit.Options(t)
			opts.Layers = []model.Layer{model.LayerQuota}
			opts.AfterProvision = suitekit.Fixtures(t, "limitrange-max-min", "at-cpu-quota")
			rep := suitekit.Execute(ctx, t, opts)
			for _, r := range rep.Results {
				if r.CheckID == "quota/limitrange-defaults-applied" {
					assert.Equal(t, model.VerdictError, r.Verdict, r.Reason)
					assert.Contains(t, r.Reason, "tenant at quota")
					assert.Contains(t, r.Reason, "tenant-b-prod")
					assert.NotContains(t, r.Reason, "tenant-a-prod", "tenant-a has room: its defaults are seen")
					continue
				}
				assert.Equal(t, model.VerdictHeld, r.Verdict, "%s: %s", r.CheckID, r.Reason)
			}
			for _, r := range rep.Results {
				if r.CheckID == "quota/over-quota-cpu-rejected" {
					joined := ""
					for _, e := range r.Evidence {
						joined += e.Action + " => " + e.Raw + "\n"
					}
					assert.Contains(t, joined, "container(s)", "the pod's shape is in the evidence")
					assert.Contains(t, joined, "exceeded quota", "the quota itself refused it")
					t.Log(joined)
				}
			}
			return ctx
		}).Feature()
	testenv.Test(t, f)
}

// Must show 2: an account allowed to update (PUT) its quota, but not to
// patch it, is caught, with the PUT in the evidence.
func TestQuotaUpdateRoleIsCaught(t *testing.T) {
	f := features.New("a Role granting update on resourcequotas").
		WithLabel("layer", "quota").WithLabel("check", "tenant-cannot-edit-quota").
		Assess("tenant-cannot-edit-quota breaks on the PUT, naming the account", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			opts := suitekit.Options(t)
			opts.Layers = []model.Layer{model.LayerQuota}
			opts.AfterProvision = suitekit.Fixtures(t, "quota-editor-role")
			rep := suitekit.Execute(ctx, t, opts)
			got := suitekit.Verdicts(rep)
			for id, v := range got {
				if id == "quota/tenant-cannot-edit-quota" {
					continue
				}
				assert.Equal(t, model.VerdictHeld, v, id)
			}
			require.Equal(t, model.VerdictBroken, got["quota/tenant-cannot-edit-quota"])
			for _, r := range rep.Results {
				if r.CheckID != "quota/tenant-cannot-edit-quota" {
					continue
				}
				assert.Contains(t, r.Reason, ":ci-deployer update (PUT) resourcequota")
				assert.NotContains(t, r.Reason, "patch resourcequota", "patch is not granted")
				assert.NotContains(t, r.Reason, "tenant-reconciler", "the guide's accounts hold")
				var puts int
				for _, e := range r.Evidence {
					if strings.Contains(e.Action, "update (PUT) resourcequota") && strings.HasSuffix(e.From, ":ci-deployer") {
						puts++
						assert.Contains(t, e.Repro, "auth can-i update resourcequotas")
					}
				}
				assert.Equal(t, 1, puts, "the PUT is in the evidence")
			}
			return ctx
		}).Feature()
	testenv.Test(t, f)
}
