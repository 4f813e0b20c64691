package network

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	net "github.com/tenantcheck/tenantcheck/internal/layers/network"
	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/suites/suitekit"
)

// On a cluster that accepts NetworkPolicy and ignores it, the layer is
// broken, the cross-tenant cells are flagged, and the canary names the cause.
// It needs a cluster whose enforcer can be switched off: the project's local
// cluster (TENANTCHECK_LOCAL_CLUSTER=1, set by `make test`). On any other
// cluster this one feature is skipped with that reason.
func TestUnenforcedClusterIsCaught(t *testing.T) {
	f := features.New("an unenforcing CNI is caught").
		WithLabel("layer", "network").WithLabel("check", "policy-enforced").
		Setup(func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			suitekit.NeedLocalCluster(t, "needs the local cluster's unenforced profile")
			suitekit.SetProfile(t, "unenforced")
			return ctx
		}).
		Assess("the layer is broken and the canary names the cause", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			rep := suitekit.Execute(ctx, t, suitekit.Options(t))
			v := suitekit.Verdicts(rep)
			assert.Equal(t, model.VerdictBroken, v["network/policy-enforced"])
			for _, r := range rep.Results {
				if r.CheckID == "network/policy-enforced" {
					assert.Contains(t, r.Reason, net.NotEnforced)
				}
				if strings.HasPrefix(r.CheckID, "network/cross-tenant") {
					assert.Equal(t, model.VerdictBroken, r.Verdict, r.CheckID)
					assert.Contains(t, r.Reason, net.NotEnforced, "the broken check points at the cause")
				}
			}
			for _, m := range rep.Matrices {
				cells := map[string]bool{}
				for _, c := range m.Mismatches() {
					cells[c.From+">"+c.To] = true
				}
				assert.True(t, cells["tenant-a-prod>tenant-b-prod"] && cells["tenant-b-prod>tenant-a-prod"], "matrix %s flags both cross-tenant cells: %v", m.Name, cells)
			}
			assert.Equal(t, 1, model.ExitCode(rep))
			return ctx
		}).
		Teardown(func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			if suitekit.LocalCluster() {
				suitekit.SetProfile(t, "enforcing")
			}
			return ctx
		}).Feature()
	testenv.Test(t, f)
}
