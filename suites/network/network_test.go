package network

import (
	"bytes"
	"context"
	"encoding/xml"
	"slices"
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantcheck/tenantcheck/internal/baseline"
	net "github.com/tenantcheck/tenantcheck/internal/layers/network"
	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/internal/report"
	"github.com/tenantcheck/tenantcheck/internal/runner"
	"github.com/tenantcheck/tenantcheck/suites/suitekit"
)

// The guide's baseline on an enforcing cluster: every network check holds,
// the matrices match their expectation, and the reports are well-formed.
func TestBaselineHolds(t *testing.T) {
	f := features.New("baseline tenants are isolated").
		WithLabel("layer", "network").WithLabel("check", "all").
		Assess("every network check holds", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			rep := suitekit.Execute(ctx, t, suitekit.Options(t))
			for _, r := range rep.Results {
				assert.Equal(t, want(r.CheckID), r.Verdict, "%s: %s", r.CheckID, r.Reason)
			}
			assert.Len(t, rep.Results, len(net.Checks)+3, "every check, the canary and the two static checks report a result")
			for _, m := range rep.Matrices {
				assert.Empty(t, m.Mismatches(), "matrix %s", m.Name)
			}
			assert.Equal(t, 0, model.ExitCode(rep))
			assert.Positive(t, rep.EnforcementLatency, "the canary measures enforcement latency")
			assertReportsWellFormed(t, rep)
			assert.Empty(t, suitekit.LeftNamespaces(ctx, t), "the run removes its namespaces")
			return ctx
		}).Feature()
	testenv.Test(t, f)
}

// assertReportsWellFormed: -o json round-trips into the report type and -o
// junit parses as JUnit XML naming each check.
func assertReportsWellFormed(t *testing.T, rep *model.Report) {
	var js bytes.Buffer
	require.NoError(t, report.Render(&js, rep, report.JSON))
	back, err := model.DecodeReport(&js)
	require.NoError(t, err)
	assert.Equal(t, len(rep.Results), len(back.Results))
	assert.Equal(t, suitekit.Verdicts(rep), suitekit.Verdicts(back))

	var ju bytes.Buffer
	require.NoError(t, report.Render(&ju, rep, report.JUnit))
	var suites struct {
		Suites []struct {
			Name  string `xml:"name,attr"`
			Cases []struct {
				Name string `xml:"name,attr"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	require.NoError(t, xml.Unmarshal(ju.Bytes(), &suites))
	var names []string
	for _, s := range suites.Suites {
		for _, c := range s.Cases {
			names = append(names, c.Name)
		}
	}
	for _, r := range rep.Results {
		assert.True(t, slices.ContainsFunc(names, func(n string) bool { return strings.Contains(n, r.CheckID) }), "junit names %s", r.CheckID)
	}
}

// An allow rule with namespaceSelector: {} opens a tenant to every
// namespace: exactly the cells into that tenant from namespaces whose egress
// is open turn broken (the other tenant's default-deny egress still holds).
func TestEmptyNamespaceSelectorOpensTenant(t *testing.T) {
	f := features.New("namespaceSelector {} opens a tenant").
		WithLabel("layer", "network").WithLabel("check", "other-namespace-ingress-denied").
		Assess("only the paths into tenant-a turn broken", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			opts := suitekit.Options(t)
			opts.AfterProvision = func(ctx context.Context, cs kubernetes.Interface, run *runner.Run) error {
				ns := run.Namespace("tenant-a-prod")
				p := &networkingv1.NetworkPolicy{
					ObjectMeta: metav1.ObjectMeta{Name: "allow-from-everywhere", Namespace: ns, Labels: run.Labels},
					Spec: networkingv1.NetworkPolicySpec{
						PodSelector: metav1.LabelSelector{},
						PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
						Ingress:     []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{}}}}},
					},
				}
				_, err := cs.NetworkingV1().NetworkPolicies(ns).Create(ctx, p, metav1.CreateOptions{})
				return err
			}
			rep := suitekit.Execute(ctx, t, opts)
			v := suitekit.Verdicts(rep)
			assert.Equal(t, model.VerdictBroken, v["network/other-namespace-ingress-denied"])
			for id, verdict := range v {
				if id != "network/other-namespace-ingress-denied" {
					assert.Equal(t, want(id), verdict, id)
				}
			}
			for _, m := range rep.Matrices {
				var broken []string
				for _, c := range m.Mismatches() {
					broken = append(broken, c.From+">"+c.To)
				}
				assert.Equal(t, []string{"outsider>tenant-a-prod"}, broken, "matrix %s", m.Name)
			}
			assert.Equal(t, 1, model.ExitCode(rep))
			return ctx
		}).Feature()
	testenv.Test(t, f)
}

// want is a check's verdict on the guide's provisioned tenants: Held, but
// for the static policy check and the live workload check, which have no
// workload of theirs to judge
// (a provisioned run's tenants hold only tenantcheck's probes).
func want(id string) model.Verdict {
	switch id {
	case "network/policy-blocks-cross-tenant", "network/workloads-isolated":
		return model.VerdictSkipped
	}
	return model.VerdictHeld
}

// A must-allow path a tenant's policies close (its allow-from-shared-ingress
// deleted) is Broken, not an Error: refused at once where denied
// connections are rejected, and after three silent rounds where they are
// dropped (this suite runs in both DENY modes). Every attempt's evidence is
// kept, and nothing else changes verdict.
func TestClosedMustAllowPathIsBroken(t *testing.T) {
	f := features.New("a closed must-allow path is Broken").
		WithLabel("layer", "network").WithLabel("check", "shared-ingress-allowed").
		Assess("tenant-a loses its allow from the shared ingress", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			opts := suitekit.Options(t)
			var nsA string
			opts.AfterProvision = func(ctx context.Context, cs kubernetes.Interface, run *runner.Run) error {
				nsA = run.Namespace("tenant-a-prod")
				return cs.NetworkingV1().NetworkPolicies(nsA).Delete(ctx, baseline.PolicyAllowFromShared, metav1.DeleteOptions{})
			}
			rep := suitekit.Execute(ctx, t, opts)
			v := suitekit.Verdicts(rep)
			r := resultOf(rep, "network/shared-ingress-allowed")
			require.Equal(t, model.VerdictBroken, r.Verdict, "%s (DENY=%s)", r.Reason, suitekit.Deny())
			for id, verdict := range v {
				if id != "network/shared-ingress-allowed" {
					assert.Equal(t, want(id), verdict, id)
				}
			}
			var intoA, brokenIntoA, attempts int
			for _, e := range r.Evidence {
				if !strings.HasPrefix(e.To, nsA+"/") {
					assert.NotEqual(t, model.VerdictBroken, e.Verdict, "only paths into tenant-a break: %+v", e)
					continue
				}
				intoA++
				attempts += e.Attempts
				if e.Verdict == model.VerdictBroken {
					brokenIntoA++
				}
			}
			require.Positive(t, intoA)
			assert.Equal(t, intoA, brokenIntoA, "every path from the shared ingress into tenant-a is Broken")
			if suitekit.Deny() == "drop" {
				assert.GreaterOrEqual(t, attempts, 3*intoA, "dropped: Broken only after three silent attempts per path")
			}
			assert.Equal(t, 1, model.ExitCode(rep))
			return ctx
		}).Feature()
	testenv.Test(t, f)
}
