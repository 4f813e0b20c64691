package flux

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/tenantcheck/tenantcheck/internal/model"
)

var testPair = Pair{A: "tc-x-tenant-a-prod", B: "tc-x-tenant-b-prod"}

func ready(status, reason, msg string) Observation {
	return Observation{Found: true, Ready: Condition{Status: status, Reason: reason, Message: msg}}
}

const (
	blockedMsg = "can't access 'ExternalArtifact/tc-x-tenant-b-prod/tc-flux-source', cross-namespace references have been blocked"
	gateMsg    = "can't access 'ExternalArtifact/tc-x-tenant-b-prod/tc-flux-source', ExternalArtifact feature gate is disabled"
	applied    = "Applied revision: tenantcheck@sha256:abc"
)

func forbiddenMsg(user string) string {
	return `ConfigMap/tc-x-tenant-b-prod/tc-flux-default-sa dry-run failed (Forbidden): configmaps "tc-flux-default-sa" is forbidden: User "` +
		user + `" cannot patch resource "configmaps" in API group "" in the namespace "tc-x-tenant-b-prod"`
}

func TestConclusive(t *testing.T) {
	tests := []struct {
		name string
		o    Observation
		want bool
	}{
		{"nothing yet", Observation{}, false},
		{"progressing", ready("Unknown", ReasonProgressing, "Reconciliation in progress"), false},
		{"artifact missing: a retry", ready("False", ReasonArtifactFailed, "Source artifact not found, retrying in 30s"), false},
		{"access denied", ready("False", ReasonAccessDenied, blockedMsg), true},
		{"reconciliation failed", ready("False", "ReconciliationFailed", forbiddenMsg("x")), true},
		{"applied", ready("True", "ReconciliationSucceeded", applied), true},
		{"content landed before any condition", Observation{Content: "b/cm"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { assert.Equal(t, tt.want, tt.o.Conclusive()) })
	}
}

func TestArtifactPending(t *testing.T) {
	assert.True(t, ready("False", ReasonArtifactFailed, "Source artifact not found, retrying in 30s").ArtifactPending())
	assert.True(t, ready("False", ReasonArtifactFailed, "Source is not ready, artifact not found, retrying in 30s").ArtifactPending())
	assert.False(t, ready("False", ReasonArtifactFailed, "kustomization path not found").ArtifactPending())
	assert.False(t, ready("False", ReasonAccessDenied, blockedMsg).ArtifactPending())
	assert.False(t, Observation{}.ArtifactPending())
}

func TestJudges(t *testing.T) {
	sa := func(name string) string { return "system:serviceaccount:" + testPair.A + ":" + name }
	fetched := ready("False", ReasonArtifactFailed, "kustomization path not found")
	fetched.Fetched = true
	landed := ready("False", "ReconciliationFailed", "health check failed")
	landed.Content = testPair.B + "/tc-flux-default-sa"
	timedOut := Observation{TimedOut: DefaultWait}
	tests := []struct {
		name   string
		judge  func(Observation, Pair) model.Judgement
		o      Observation
		want   model.Verdict
		reason string
	}{
		{"cross: blocked", JudgeCrossNamespace, ready("False", ReasonAccessDenied, blockedMsg), model.VerdictHeld, "cross-namespace references have been blocked"},
		{"cross: applied", JudgeCrossNamespace, ready("True", "ReconciliationSucceeded", applied), model.VerdictBroken, "reconciled tc-x-tenant-b-prod's source"},
		{"cross: fetched then failed", JudgeCrossNamespace, fetched, model.VerdictBroken, "fetched tc-x-tenant-b-prod's artifact"},
		{"cross: feature gate off", JudgeCrossNamespace, ready("False", ReasonAccessDenied, gateMsg), model.VerdictSkipped, "ExternalArtifact=true"},
		{"cross: denied for another reason", JudgeCrossNamespace, ready("False", ReasonAccessDenied, "denied by policy"), model.VerdictError, "says nothing"},
		{"reconciler: feature gate off", JudgeImpersonation, ready("False", ReasonAccessDenied, gateMsg), model.VerdictSkipped, "ExternalArtifact=true"},
		{"default: feature gate off", JudgeDefaultServiceAccount, ready("False", ReasonAccessDenied, gateMsg), model.VerdictSkipped, "ExternalArtifact=true"},
		{"cross: no answer", JudgeCrossNamespace, timedOut, model.VerdictError, "no Ready condition"},
		{"reconciler: forbidden", JudgeImpersonation, ready("False", "ReconciliationFailed", forbiddenMsg(sa("tenant-reconciler"))), model.VerdictHeld, "as " + sa("tenant-reconciler")},
		{"reconciler: applied", JudgeImpersonation, ready("True", "ReconciliationSucceeded", applied), model.VerdictBroken, "not confined"},
		{"reconciler: content landed", JudgeImpersonation, landed, model.VerdictBroken, "ConfigMap tc-x-tenant-b-prod/tc-flux-default-sa was created"},
		{"reconciler: other failure", JudgeImpersonation, ready("False", "BuildFailed", "kustomize build failed"), model.VerdictError, "says nothing"},
		{"default: forbidden as default", JudgeDefaultServiceAccount, ready("False", "ReconciliationFailed", forbiddenMsg(sa("default"))), model.VerdictHeld, "as " + sa("default")},
		{"default: forbidden as another tenant's account", JudgeDefaultServiceAccount, ready("False", "ReconciliationFailed", forbiddenMsg("system:serviceaccount:other:default")), model.VerdictError, "not as a service account of"},
		{"default: applied with the controller's rights", JudgeDefaultServiceAccount, ready("True", "ReconciliationSucceeded", applied), model.VerdictBroken, "controller's own rights"},
		{"default: content landed", JudgeDefaultServiceAccount, landed, model.VerdictBroken, "was created"},
		{"default: no answer", JudgeDefaultServiceAccount, timedOut, model.VerdictError, "no verdict within 1m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := tt.judge(tt.o, testPair)
			assert.Equal(t, tt.want, j.Verdict, j.Reason)
			assert.Contains(t, j.Reason, tt.reason)
			assert.NoError(t, j.Validate())
		})
	}
}

func TestForbiddenAs(t *testing.T) {
	ok, user := forbiddenAs(Condition{Status: "False", Message: forbiddenMsg("system:serviceaccount:a:default")})
	assert.True(t, ok)
	assert.Equal(t, "system:serviceaccount:a:default", user)
	ok, user = forbiddenAs(Condition{Status: "False", Message: "Forbidden: something else"})
	assert.True(t, ok)
	assert.Empty(t, user)
	ok, _ = forbiddenAs(Condition{Status: "True", Message: "forbidden"})
	assert.False(t, ok, "a Ready object was not refused")
	ok, _ = forbiddenAs(Condition{Status: "False", Message: "timeout"})
	assert.False(t, ok)
}
