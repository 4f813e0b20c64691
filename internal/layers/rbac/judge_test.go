package rbac

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantcheck/tenantcheck/internal/model"
)

var (
	reconcilerA = Identity{Tenant: "tenant-a", Namespace: nsA, ServiceAccount: "tenant-reconciler", Targets: []string{nsB}}
	defaultA    = Identity{Tenant: "tenant-a", Namespace: nsA, ServiceAccount: "default", Targets: []string{nsB}}
	reconcilerB = Identity{Tenant: "tenant-b", Namespace: nsB, ServiceAccount: "tenant-reconciler", Targets: []string{nsA}}
)

func seen(id Identity, action, to string, o model.APIOutcome) attempt {
	return attempt{from: id, req: Request{Action: action, To: to}, observed: o, raw: string(o), repro: "kubectl ..."}
}

var listSecretsCheck = Checks[0]

// Controls that all passed.
func controlsPassed() map[string][]attempt {
	return map[string][]attempt{
		Controls[0].ID: {seen(reconcilerA, "list configmaps in "+nsA, nsA, model.APIAdmitted),
			seen(reconcilerB, "list configmaps in "+nsB, nsB, model.APIAdmitted)},
		Controls[1].ID: {seen(defaultA, "authenticate", clusterScope, model.APIAdmitted)},
	}
}

func judgeOne(t *testing.T, c Check, attempts map[string][]attempt) model.Result {
	t.Helper()
	results := judgeAll(append(append([]Check(nil), Controls...), c), Controls, attempts)
	require.Len(t, results, len(Controls)+1)
	r := results[len(Controls)]
	require.NoError(t, r.Validate())
	return r
}

func TestJudgeAllForbiddenHolds(t *testing.T) {
	obs := controlsPassed()
	obs[listSecretsCheck.ID] = []attempt{
		seen(reconcilerA, "list secrets in "+nsB, nsB, model.APIForbidden),
		seen(defaultA, "list secrets in "+nsB, nsB, model.APIForbidden),
		seen(reconcilerB, "list secrets in "+nsA, nsA, model.APIForbidden),
	}
	r := judgeOne(t, listSecretsCheck, obs)
	assert.Equal(t, model.VerdictHeld, r.Verdict)
	assert.Equal(t, "forbidden as expected in all 3 attempts", r.Reason)
	assert.Equal(t, "Forbidden x3", r.Observed)
	assert.Equal(t, 3, r.Attempts)
	require.Len(t, r.Evidence, 3, "one evidence per attempt")
	assert.Equal(t, model.Evidence{Action: "list secrets in " + nsB, From: nsA + "/tenant-reconciler", To: nsB,
		Raw: "Forbidden", Attempts: 1, Repro: "kubectl ...", Verdict: model.VerdictHeld}, r.Evidence[0])
}

func TestJudgeAllOneAdmittedBreaks(t *testing.T) {
	obs := controlsPassed()
	obs[listSecretsCheck.ID] = []attempt{
		seen(reconcilerA, "list secrets in "+nsB, nsB, model.APIAdmitted),
		seen(defaultA, "list secrets in "+nsB, nsB, model.APIForbidden),
		seen(reconcilerB, "list secrets in "+nsA, nsA, model.APIError),
	}
	r := judgeOne(t, listSecretsCheck, obs)
	assert.Equal(t, model.VerdictBroken, r.Verdict, "broken wins over error")
	assert.Equal(t, nsA+"/tenant-reconciler: list secrets in "+nsB+": admitted, expected forbidden", r.Reason)
	assert.Equal(t, "Forbidden x1, Admitted x1, Error x1", r.Observed)
	require.Len(t, r.Evidence, 3)
	assert.Equal(t, []model.Verdict{model.VerdictBroken, model.VerdictHeld, model.VerdictError},
		[]model.Verdict{r.Evidence[0].Verdict, r.Evidence[1].Verdict, r.Evidence[2].Verdict},
		"each attempt's evidence carries its own verdict (the policy reports split a check by pair on it)")
}

func TestJudgeAllRejectedBreaks(t *testing.T) {
	// Admission stopped it, but RBAC let it through: the RBAC layer is broken.
	obs := controlsPassed()
	obs[listSecretsCheck.ID] = []attempt{seen(reconcilerA, "create pod in "+nsB, nsB, model.APIRejected)}
	assert.Equal(t, model.VerdictBroken, judgeOne(t, listSecretsCheck, obs).Verdict)
}

func TestJudgeAllFailedControlMakesForbiddenAnError(t *testing.T) {
	obs := controlsPassed()
	// tenant-a's reconciler cannot even list its own configmaps.
	obs[Controls[0].ID][0] = seen(reconcilerA, "list configmaps in "+nsA, nsA, model.APIForbidden)
	obs[listSecretsCheck.ID] = []attempt{
		seen(reconcilerA, "list secrets in "+nsB, nsB, model.APIForbidden),
		seen(defaultA, "list secrets in "+nsB, nsB, model.APIForbidden),
	}
	results := judgeAll(append(append([]Check(nil), Controls...), listSecretsCheck), Controls, obs)
	control, r := results[0], results[2]
	assert.Equal(t, model.VerdictBroken, control.Verdict, "the tenant cannot do what the guide grants")
	assert.Equal(t, model.VerdictError, r.Verdict)
	assert.Equal(t, nsA+"/tenant-reconciler: list secrets in "+nsB+": "+ReasonControlFailed+
		": rbac/reconciler-can-manage-own-namespace (list configmaps in "+nsA+"): forbidden, expected admitted", r.Reason)
	assert.NotContains(t, r.Reason, nsA+"/default", "the other identity passed its control and still holds")

	// A leak needs no control: it stays Broken.
	obs[listSecretsCheck.ID][0].observed = model.APIAdmitted
	results = judgeAll(append(append([]Check(nil), Controls...), listSecretsCheck), Controls, obs)
	assert.Equal(t, model.VerdictBroken, results[2].Verdict)
}

func TestJudgeAllNoTokenIsAnError(t *testing.T) {
	noToken := reconcilerA
	noToken.Err = "the runner may not create serviceaccounts/token: 403 Forbidden: ..."
	obs := controlsPassed()
	obs[Controls[0].ID][0] = attempt{from: noToken, req: Request{Action: "list configmaps in " + nsA, To: nsA}, notSent: noToken.Err}
	obs[listSecretsCheck.ID] = []attempt{{from: noToken, req: Request{Action: "list secrets in " + nsB, To: nsB}, notSent: noToken.Err}}
	r := judgeOne(t, listSecretsCheck, obs)
	assert.Equal(t, model.VerdictError, r.Verdict)
	assert.Contains(t, r.Reason, "the runner may not create serviceaccounts/token")
	assert.Equal(t, 0, r.Attempts, "nothing was sent")
	assert.Equal(t, "not sent x1", r.Observed)
	assert.Equal(t, 0, r.Evidence[0].Attempts)
	assert.Contains(t, r.Evidence[0].Raw, "not sent: the runner may not create serviceaccounts/token")
}

func TestJudgeAllNothingToTryIsSkipped(t *testing.T) {
	r := judgeOne(t, listSecretsCheck, controlsPassed())
	assert.Equal(t, model.VerdictSkipped, r.Verdict)
}

func TestPositiveControlHolds(t *testing.T) {
	results := judgeAll(Controls, Controls, controlsPassed())
	for _, r := range results {
		assert.Equal(t, model.VerdictHeld, r.Verdict, r.CheckID)
		assert.Equal(t, "Admitted", r.Expected)
	}
}
