package network

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/internal/runner"
	"github.com/tenantcheck/tenantcheck/suites/suitekit"
)

// Issue 16, must show 3 (at 12 tenants): above ten tenants the default is
// --pairs ring. The namespaceSelector: {} misconfiguration in tenant 7 is
// still caught (every namespace of open egress reaches it), the cross-tenant
// checks say how many pairs they proved live and that the others were not,
// and the report records the plan.
func TestRingCatchesAnOpenedTenant(t *testing.T) {
	f := features.New("twelve tenants, ring").
		WithLabel("layer", "network").WithLabel("check", "pairs").
		Assess("t07 opened is caught; the unprobed pairs are said", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			opts := suitekit.Options(t)
			opts.Spec = tenantsSpec(12)
			opts.Layers = []model.Layer{model.LayerNetwork}
			opts.AfterProvision = func(ctx context.Context, cs kubernetes.Interface, run *runner.Run) error {
				ns := run.Namespace("t07-prod")
				p := &networkingv1.NetworkPolicy{
					ObjectMeta: metav1.ObjectMeta{Name: "allow-from-everywhere", Namespace: ns, Labels: run.Labels},
					Spec: networkingv1.NetworkPolicySpec{
						PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
						Ingress:     []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{}}}}},
					},
				}
				_, err := cs.NetworkingV1().NetworkPolicies(ns).Create(ctx, p, metav1.CreateOptions{})
				return err
			}
			rep := suitekit.Execute(ctx, t, opts)
			require.NotNil(t, rep.Pairs)
			assert.Equal(t, model.PairCoverage{Plan: "ring", Probed: 24, Total: 132}, *rep.Pairs)
			got := map[string]model.Result{}
			for _, r := range rep.Results {
				got[r.CheckID] = r
			}
			other := got["network/other-namespace-ingress-denied"]
			assert.Equal(t, model.VerdictBroken, other.Verdict, other.Reason)
			for _, id := range []string{"network/cross-tenant-tcp", "network/cross-tenant-udp"} {
				assert.Equal(t, model.VerdictHeld, got[id].Verdict, "%s: %s", id, got[id].Reason)
				assert.Contains(t, got[id].Reason, "--pairs ring: 24 of 132 ordered tenant pairs probed live")
			}
			var broken []string
			for _, m := range rep.Matrices {
				for _, c := range m.Mismatches() {
					broken = append(broken, c.From+">"+c.To)
				}
			}
			assert.NotEmpty(t, broken)
			for _, b := range broken {
				assert.Contains(t, b, ">t07-prod", "only paths into t07 break: %v", broken)
			}
			assert.Equal(t, 1, model.ExitCode(rep))
			fmt.Println("pairs:", rep.Pairs.Plan, rep.Pairs.Probed, "of", rep.Pairs.Total)
			return ctx
		}).Feature()
	testenv.Test(t, f)
}
