package quota

import (
	"context"
	"sort"
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
