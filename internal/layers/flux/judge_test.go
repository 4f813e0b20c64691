package flux

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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

// kcUser is kustomize-controller's own identity, as Flux installs it.
const kcUser = "system:serviceaccount:flux-system:kustomize-controller"

// cannotImpersonate is what the apply says when the controller itself may
// not impersonate the tenant's account.
func cannotImpersonate(sa string) string {
	return `ConfigMap/tc-x-tenant-b-prod/tc-flux-impersonation dry-run failed (Forbidden): serviceaccounts "` + sa +
		`" is forbidden: User "` + kcUser + `" cannot impersonate resource "serviceaccounts" in API group "" in the namespace "tc-x-tenant-a-prod"`
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
		judge  func(Observation, Pair, string) model.Judgement
		o      Observation
		want   model.Verdict
		reason string
	}{
		{"cross: blocked", JudgeCrossNamespace, ready("False", ReasonAccessDenied, blockedMsg), model.VerdictHeld, "cross-namespace references have been blocked"},
		{"cross: applied", JudgeCrossNamespace, ready("True", "ReconciliationSucceeded", applied), model.VerdictBroken, "reconciled tc-x-tenant-b-prod's source"},
		{"cross: fetched then failed", JudgeCrossNamespace, fetched, model.VerdictBroken, "fetched tc-x-tenant-b-prod's artifact"},
		{"cross: feature gate off", JudgeCrossNamespace, ready("False", ReasonAccessDenied, gateMsg), model.VerdictSkipped, "ExternalArtifact=true"},
		{"cross: denied for another reason", JudgeCrossNamespace, ready("False", ReasonAccessDenied, "denied by policy"), model.VerdictError, "says nothing"},
		{"default: feature gate off", JudgeDefaultServiceAccount, ready("False", ReasonAccessDenied, gateMsg), model.VerdictSkipped, "ExternalArtifact=true"},
		{"cross: no answer", JudgeCrossNamespace, timedOut, model.VerdictError, "no Ready condition"},
		{"default: forbidden as default", JudgeDefaultServiceAccount, ready("False", "ReconciliationFailed", forbiddenMsg(sa("default"))), model.VerdictHeld, "as " + sa("default")},
		{"default: forbidden as another tenant's account", JudgeDefaultServiceAccount, ready("False", "ReconciliationFailed", forbiddenMsg("system:serviceaccount:other:default")), model.VerdictError, "not as a service account of"},
		{"default: the controller may not impersonate", JudgeDefaultServiceAccount, ready("False", "ReconciliationFailed", cannotImpersonate("default")), model.VerdictError, "could not impersonate the tenant"},
		{"default: forbidden naming nobody", JudgeDefaultServiceAccount, ready("False", "ReconciliationFailed", "Forbidden"), model.VerdictError, "names no user"},
		{"default: a prefix of A is not A", JudgeDefaultServiceAccount, ready("False", "ReconciliationFailed", forbiddenMsg("system:serviceaccount:"+testPair.A+"-x:default")), model.VerdictError, "not as a service account of"},
		{"default: applied with the controller's rights", JudgeDefaultServiceAccount, ready("True", "ReconciliationSucceeded", applied), model.VerdictBroken, "controller's own rights"},
		{"default: content landed", JudgeDefaultServiceAccount, landed, model.VerdictBroken, "was created"},
		{"default: no answer", JudgeDefaultServiceAccount, timedOut, model.VerdictError, "no verdict within 1m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := tt.judge(tt.o, testPair, "tenant-reconciler")
			assert.Equal(t, tt.want, j.Verdict, j.Reason)
			assert.Contains(t, j.Reason, tt.reason)
			assert.NoError(t, j.Validate())
		})
	}
}

// JudgeImpersonation holds only on a Forbidden that names the Kustomization's
// serviceAccountName in tenant A: anyone else refused (the controller first
// of all) means the apply never ran as the tenant.
func TestJudgeImpersonation(t *testing.T) {
	reconciler := "system:serviceaccount:" + testPair.A + ":tenant-reconciler"
	landed := ready("False", "ReconciliationFailed", cannotImpersonate("tenant-reconciler"))
	landed.Content = testPair.B + "/tc-flux-impersonation"
	tests := []struct {
		name   string
		sa     string
		o      Observation
		want   model.Verdict
		reason []string
	}{
		{"forbidden as the reconciler", "tenant-reconciler", ready("False", "ReconciliationFailed", forbiddenMsg(reconciler)),
			model.VerdictHeld, []string{"refused Forbidden as " + reconciler, "nothing created in " + testPair.B}},
		{"the controller may not impersonate", "tenant-reconciler", ready("False", "ReconciliationFailed", cannotImpersonate("tenant-reconciler")),
			model.VerdictError, []string{"Forbidden as " + kcUser + " (cannot impersonate), not as " + reconciler + ": the controller could not impersonate the tenant, so the check proves nothing"}},
		{"the controller applied as itself", "tenant-reconciler", ready("False", "ReconciliationFailed", forbiddenMsg(kcUser)),
			model.VerdictError, []string{"Forbidden as " + kcUser + " (cannot patch), not as " + reconciler, "did not run as the tenant"}},
		{"forbidden as A's default account", "tenant-reconciler", ready("False", "ReconciliationFailed", forbiddenMsg("system:serviceaccount:"+testPair.A+":default")),
			model.VerdictError, []string{"not as " + reconciler}},
		{"forbidden as B's reconciler", "tenant-reconciler", ready("False", "ReconciliationFailed", forbiddenMsg("system:serviceaccount:"+testPair.B+":tenant-reconciler")),
			model.VerdictError, []string{"not as " + reconciler}},
		{"forbidden naming nobody", "tenant-reconciler", ready("False", "ReconciliationFailed", "apply failed: Forbidden"),
			model.VerdictError, []string{"names no user"}},
		{"the identity comes from the check", "deployer", ready("False", "ReconciliationFailed", forbiddenMsg("system:serviceaccount:"+testPair.A+":deployer")),
			model.VerdictHeld, []string{":deployer"}},
		{"the check's account, not the usual one", "deployer", ready("False", "ReconciliationFailed", forbiddenMsg(reconciler)),
			model.VerdictError, []string{"not as system:serviceaccount:" + testPair.A + ":deployer"}},
		{"no account to judge by", "", ready("False", "ReconciliationFailed", forbiddenMsg(reconciler)),
			model.VerdictError, []string{"no serviceAccountName"}},
		{"content landed whatever the message", "tenant-reconciler", landed,
			model.VerdictBroken, []string{"ConfigMap tc-x-tenant-b-prod/tc-flux-impersonation was created", "not confined"}},
		{"applied", "tenant-reconciler", ready("True", "ReconciliationSucceeded", applied), model.VerdictBroken, []string{"not confined"}},
		{"feature gate off", "tenant-reconciler", ready("False", ReasonAccessDenied, gateMsg), model.VerdictSkipped, []string{"ExternalArtifact=true"}},
		{"other failure", "tenant-reconciler", ready("False", "BuildFailed", "kustomize build failed"), model.VerdictError, []string{"says nothing"}},
		{"no answer", "tenant-reconciler", Observation{TimedOut: DefaultWait}, model.VerdictError, []string{"no Ready condition"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := JudgeImpersonation(tt.o, testPair, tt.sa)
			assert.Equal(t, tt.want, j.Verdict, j.Reason)
			for _, r := range tt.reason {
				assert.Contains(t, j.Reason, r)
			}
			assert.NoError(t, j.Validate())
		})
	}
}

func TestForbiddenAs(t *testing.T) {
	ok, refused := forbiddenAs(Condition{Status: "False", Message: forbiddenMsg("system:serviceaccount:a:default")})
	assert.True(t, ok)
	assert.Equal(t, []refusal{{User: "system:serviceaccount:a:default", Verb: "patch"}}, refused)
	ok, refused = forbiddenAs(Condition{Status: "False", Message: cannotImpersonate("tenant-reconciler") + "\n" + forbiddenMsg("system:serviceaccount:a:default")})
	assert.True(t, ok)
	assert.Equal(t, []refusal{{User: kcUser, Verb: "impersonate"}, {User: "system:serviceaccount:a:default", Verb: "patch"}}, refused, "every refusal, in order")
	ok, refused = forbiddenAs(Condition{Status: "False", Message: "Forbidden: something else"})
	assert.True(t, ok)
	assert.Empty(t, refused)
	ok, _ = forbiddenAs(Condition{Status: "True", Message: "forbidden"})
	assert.False(t, ok, "a Ready object was not refused")
	ok, _ = forbiddenAs(Condition{Status: "False", Message: "timeout"})
	assert.False(t, ok)
}

// --no-pods: the live checks, which need an artifact-server pod, are
// Skipped before anything is created.
func TestLiveSkippedWithoutPods(t *testing.T) {
	gvr := externalArtifactsGR.WithVersion("v1")
	in := Input{NoPods: true, Outsider: "tc-x-outsider", Tenants: []Tenant{{Name: "a", Namespaces: []string{"a"}}, {Name: "b", Namespaces: []string{"b"}}}}
	results := liveResults(context.Background(), env{}, installed{externalArtifact: &gvr}, in)
	require.Len(t, results, len(LiveChecks))
	for _, r := range results {
		assert.Equal(t, model.VerdictSkipped, r.Verdict)
		assert.Contains(t, r.Reason, "--no-pods")
	}
}
