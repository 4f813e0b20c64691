package report

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tenantcheck/tenantcheck/internal/model"
)

const (
	podAProd = "tenant-a-prod/probe"
	podADev  = "tenant-a-dev/probe"
	podBProd = "tenant-b-prod/probe"
)

func ms(n int) model.Millis { return model.Millis(time.Duration(n) * time.Millisecond) }

// fixtureReport is a run with a broken network layer (one cross-tenant cell
// allowed), a held RBAC layer, a Pod Security check in error and a skipped
// Flux layer. Every time is fixed so the golden files are stable.
func fixtureReport(t *testing.T) *model.Report {
	t.Helper()
	start := time.Date(2025, 11, 26, 4, 0, 0, 0, time.UTC)
	rep := model.NewReport(model.Metadata{
		ClusterVersion: "v1.35.0", Nodes: 2, CNI: "calico", TenantcheckVersion: "v0.1.0",
		Mode: model.ModeProvision, Start: start, End: start.Add(21500 * time.Millisecond),
		SpecDigest: "sha256:5f1d2c", Tenants: []string{"tenant-a", "tenant-b"},
	}, fixtureResults(), []model.Matrix{*fixtureMatrix(t)})
	rep.Timings = []model.PhaseTiming{
		{Phase: "plan", Duration: ms(3)},
		{Phase: "provision", Duration: ms(1200)},
		{Phase: "deploy", Duration: ms(6400)},
		{Phase: "observe", Duration: ms(4100)},
		{Phase: "cleanup", Duration: ms(9800)},
	}
	rep.EnforcementLatency = ms(200)
	rep.TenantPairs = []model.PairVerdict{
		{From: "tenant-a", To: "tenant-b", Layer: model.LayerNetwork, Verdict: model.VerdictBroken, Tried: 12},
		{From: "tenant-b", To: "tenant-a", Layer: model.LayerNetwork, Verdict: model.VerdictHeld, Tried: 12},
		{From: "tenant-a", To: "tenant-b", Layer: model.LayerRBAC, Verdict: model.VerdictHeld, Tried: 14},
		{From: "tenant-b", To: "tenant-a", Layer: model.LayerRBAC, Verdict: model.VerdictHeld, Tried: 14},
	}
	require.NoError(t, rep.Validate())
	return rep
}

// fixtureMatrix expects traffic within a namespace to be allowed and every
// other path blocked; tenant-a-prod reaching tenant-b-prod is the hole.
func fixtureMatrix(t *testing.T) *model.Matrix {
	t.Helper()
	peers := []string{podAProd, podADev, podBProd}
	m := model.NewMatrix(model.ProtocolTCP, 8080, model.ViaPodIP, peers)
	for _, from := range peers {
		for _, to := range peers {
			want := model.ReachBlocked
			if from == to {
				want = model.ReachAllowed
			}
			got := want
			if from == podAProd && to == podBProd {
				got = model.ReachAllowed
			}
			require.NoError(t, m.SetExpected(from, to, want))
			require.NoError(t, m.SetObserved(from, to, got))
		}
	}
	return m
}

func fixtureResults() []model.Result {
	return []model.Result{
		brokenNetworkResult(),
		heldResult(model.Check{
			ID: "network/same-namespace-tcp-pod-ip", Layer: model.LayerNetwork,
			Name: "same-namespace TCP via pod IP", Expected: model.ExpectReach(model.ReachAllowed),
		}, string(model.ReachAllowed), model.JudgeReach(model.ReachAllowed, model.ReachAllowed, true)),
		heldResult(model.Check{
			ID: "rbac/cross-tenant-list-secrets", Layer: model.LayerRBAC,
			Name: "tenant-a cannot list secrets in tenant-b", Expected: model.ExpectAPI(model.APIForbidden),
		}, string(model.APIForbidden), model.JudgeAPI(model.APIForbidden, model.APIForbidden)),
		erroredPodSecurityResult(),
		{
			CheckID: "flux/impersonation", Layer: model.LayerFlux, Name: "Kustomization impersonates the tenant",
			Judgement: model.Skipped("Flux is not installed: no kustomize-controller in flux-system"),
		},
	}
}

func heldResult(c model.Check, observed string, j model.Judgement) model.Result {
	r := c.Result(j)
	r.Observed = observed
	r.Attempts = 1
	r.Duration = ms(40)
	return r
}

func brokenNetworkResult() model.Result {
	c := model.Check{
		ID: "network/cross-tenant-tcp-pod-ip", Layer: model.LayerNetwork,
		Name: "cross-tenant TCP via pod IP", Expected: model.ExpectReach(model.ReachBlocked),
	}
	r := c.Result(model.JudgeReach(model.ReachBlocked, model.ReachAllowed, true))
	r.Observed = string(model.ReachAllowed)
	r.Attempts = 1
	r.Duration = ms(1500)
	r.Evidence = []model.Evidence{{
		Action: "connect TCP/8080", From: podAProd, To: podBProd + " (10.244.1.7:8080)",
		Outcome: model.OutcomeConnected, Attempts: 1, Duration: ms(12),
		Raw:   `{"target":"10.244.1.7:8080","protocol":"tcp","outcome":"connected","latencyMs":2}`,
		Repro: "kubectl exec -n tenant-a-prod probe -- /tenantcheck-probe connect --protocol tcp --timeout 1s 10.244.1.7:8080",
	}}
	return r
}

func erroredPodSecurityResult() model.Result {
	c := model.Check{
		ID: "podsecurity/privileged-pod", Layer: model.LayerPodSecurity,
		Name: "privileged pod is rejected", Expected: model.ExpectAPI(model.APIRejected),
	}
	r := c.Result(model.JudgeAPI(model.APIRejected, model.APIError))
	r.Observed = string(model.APIError)
	r.Attempts = 3
	r.Duration = ms(3000)
	r.Evidence = []model.Evidence{{
		Action: "create pod privileged (server dry-run)",
		From:   "system:serviceaccount:tenant-a-prod:tenant-a", To: "tenant-a-prod",
		Raw:      `Post "https://10.96.0.1:443/api/v1/namespaces/tenant-a-prod/pods?dryRun=All": context deadline exceeded`,
		Attempts: 3, Duration: ms(3000),
		Repro: "kubectl --as=system:serviceaccount:tenant-a-prod:tenant-a -n tenant-a-prod run privileged " +
			"--image=busybox --privileged --dry-run=server",
	}}
	return r
}
