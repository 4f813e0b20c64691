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

// Issue 16, must show 3: the namespaceSelector: {} misconfiguration in
// tenant 17 of 20 is caught under --pairs all and under ring (every
// namespace of open egress reaches it: the outsider's path is probed under
// every plan), only paths into t17 break, and under ring the cross-tenant
// checks say how many pairs they proved live and that the others were not.
func TestOpenedTenantIsCaughtUnderAllAndRing(t *testing.T) {
	for _, tt := range []struct {
		plan string
		want model.PairCoverage
		note string
	}{
		{"all", model.PairCoverage{Plan: "all", Probed: 380, Total: 380}, ""},
		{"ring", model.PairCoverage{Plan: "ring", Probed: 40, Total: 380}, "--pairs ring: 40 of 380 ordered tenant pairs probed live"},
	} {
		f := features.New("twenty tenants, --pairs "+tt.plan).
			WithLabel("layer", "network").WithLabel("check", "pairs").
			Assess("t17 opened is caught", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
				opts := suitekit.Options(t)
				opts.Spec = suitekit.TenantsSpec(20)
				opts.Layers = []model.Layer{model.LayerNetwork}
				opts.Probe.Pairs = tt.plan
				opts.AfterProvision = func(ctx context.Context, cs kubernetes.Interface, run *runner.Run) error {
					ns := run.Namespace("t17-prod")
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
				assert.Equal(t, tt.want, *rep.Pairs)
				got := map[string]model.Result{}
				for _, r := range rep.Results {
					got[r.CheckID] = r
				}
				other := got["network/other-namespace-ingress-denied"]
				assert.Equal(t, model.VerdictBroken, other.Verdict, other.Reason)
				assert.Contains(t, other.Reason, "t17-prod")
				for _, id := range []string{"network/cross-tenant-tcp", "network/cross-tenant-udp"} {
					// Held: the other tenants' own egress policies still stop them.
					assert.Equal(t, model.VerdictHeld, got[id].Verdict, "%s: %s", id, got[id].Reason)
					if tt.note != "" {
						assert.Contains(t, got[id].Reason, tt.note)
					} else {
						assert.NotContains(t, got[id].Reason, "--pairs", "every pair was probed")
					}
				}
				var broken []string
				for _, m := range rep.Matrices {
					for _, c := range m.Mismatches() {
						broken = append(broken, c.From+">"+c.To)
					}
				}
				assert.NotEmpty(t, broken)
				for _, b := range broken {
					assert.Contains(t, b, ">t17-prod", "only paths into t17 break: %v", broken)
				}
				assert.Equal(t, 1, model.ExitCode(rep))
				fmt.Println("pairs:", rep.Pairs.Plan, rep.Pairs.Probed, "of", rep.Pairs.Total, "broken cells:", len(broken))
				return ctx
			}).Feature()
		testenv.Test(t, f)
	}
}
