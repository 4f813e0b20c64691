package model

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestReachOf(t *testing.T) {
	tests := []struct {
		outcome Outcome
		want    Reach
	}{
		{OutcomeConnected, ReachAllowed},
		{OutcomeRefused, ReachBlocked},
		{OutcomeTimeout, ReachBlocked},
		{OutcomeDNSError, ReachError},
		{OutcomeOther, ReachError},
		{"", ReachError},
		{"bogus", ReachError},
	}
	for _, tt := range tests {
		t.Run(string(tt.outcome), func(t *testing.T) {
			assert.Equal(t, tt.want, ReachOf(tt.outcome))
		})
	}
}

func TestReachSymbol(t *testing.T) {
	assert.Equal(t, ".", ReachAllowed.Symbol())
	assert.Equal(t, "X", ReachBlocked.Symbol())
	assert.Equal(t, "!", ReachError.Symbol())
	assert.Equal(t, "?", Reach("").Symbol())
}

func TestJudgeReach(t *testing.T) {
	tests := []struct {
		name               string
		expected, observed Reach
		controlOK          bool
		want               Verdict
		reason             string
	}{
		{"blocked as expected", ReachBlocked, ReachBlocked, true, VerdictHeld, "blocked as expected"},
		{"allowed as expected", ReachAllowed, ReachAllowed, true, VerdictHeld, "allowed as expected"},
		{"allowed needs no control", ReachAllowed, ReachAllowed, false, VerdictHeld, ""},
		{"leak", ReachBlocked, ReachAllowed, true, VerdictBroken, "allowed, expected blocked"},
		{"leak without control is still a leak", ReachBlocked, ReachAllowed, false, VerdictBroken, ""},
		{"over-blocked", ReachAllowed, ReachBlocked, true, VerdictBroken, "blocked, expected allowed"},
		{"blocked but control failed", ReachBlocked, ReachBlocked, false, VerdictError, ReasonControlFailed},
		{"over-blocked but control failed", ReachAllowed, ReachBlocked, false, VerdictError, ReasonControlFailed},
		{"probe error", ReachBlocked, ReachError, true, VerdictError, ReasonProbeError},
		{"probe error beats control", ReachAllowed, ReachError, false, VerdictError, ReasonProbeError},
		{"unknown observation", ReachBlocked, "Maybe", true, VerdictError, ReasonUnknownObserved},
		{"empty observation", ReachBlocked, "", true, VerdictError, ReasonUnknownObserved},
		{"error expectation", ReachError, ReachBlocked, true, VerdictError, ReasonBadExpectation},
		{"no expectation", "", ReachBlocked, true, VerdictError, ReasonBadExpectation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := JudgeReach(tt.expected, tt.observed, tt.controlOK)
			assert.Equal(t, tt.want, got.Verdict)
			assert.Contains(t, got.Reason, tt.reason)
			assert.NoError(t, got.Validate())
		})
	}
}

func TestJudgeAPI(t *testing.T) {
	tests := []struct {
		name               string
		expected, observed APIOutcome
		want               Verdict
	}{
		{"forbidden as expected", APIForbidden, APIForbidden, VerdictHeld},
		{"rejected as expected", APIRejected, APIRejected, VerdictHeld},
		{"admitted as expected", APIAdmitted, APIAdmitted, VerdictHeld},
		{"rbac let it through", APIForbidden, APIAdmitted, VerdictBroken},
		{"rbac passed, admission caught it", APIForbidden, APIRejected, VerdictBroken},
		{"psa let it through", APIRejected, APIAdmitted, VerdictBroken},
		{"tenant cannot do its job", APIAdmitted, APIForbidden, VerdictBroken},
		{"request failed", APIForbidden, APIError, VerdictError},
		{"unknown observation", APIForbidden, "Teapot", VerdictError},
		{"error expectation", APIError, APIError, VerdictError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := JudgeAPI(tt.expected, tt.observed)
			assert.Equal(t, tt.want, got.Verdict, got.Reason)
			assert.NoError(t, got.Validate())
		})
	}
}

func TestJudgementValidate(t *testing.T) {
	tests := []struct {
		verdict Verdict
		reason  string
		wantErr string
	}{
		{VerdictHeld, "", ""},
		{VerdictBroken, "", ""},
		{VerdictError, "exec failed", ""},
		{VerdictSkipped, "flux not installed", ""},
		{VerdictError, "", "verdict Error needs a reason"},
		{VerdictSkipped, "", "verdict Skipped needs a reason"},
		{"Passed", "x", `unknown verdict "Passed"`},
	}
	for _, tt := range tests {
		t.Run(string(tt.verdict)+"/"+tt.reason, func(t *testing.T) {
			j, err := NewJudgement(tt.verdict, tt.reason)
			if tt.wantErr != "" {
				assert.EqualError(t, err, tt.wantErr)
				return
			}
			assert.NoError(t, err)
			assert.Equal(t, Judgement{Verdict: tt.verdict, Reason: tt.reason}, j)
		})
	}
	assert.Error(t, Errored("").Validate())
	assert.Error(t, Skipped("").Validate())
}

func TestExpectation(t *testing.T) {
	tests := []struct {
		name    string
		e       Expectation
		str     string
		wantErr bool
	}{
		{"reach", ExpectReach(ReachBlocked), "Blocked", false},
		{"api", ExpectAPI(APIForbidden), "Forbidden", false},
		{"both", Expectation{Reach: ReachBlocked, API: APIForbidden}, "Blocked", true},
		{"none", Expectation{}, "", true},
		{"reach error", ExpectReach(ReachError), "Error", true},
		{"api error", ExpectAPI(APIError), "Error", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.str, tt.e.String())
			if tt.wantErr {
				assert.Error(t, tt.e.Validate())
			} else {
				assert.NoError(t, tt.e.Validate())
			}
		})
	}
}

func TestLayers(t *testing.T) {
	info, ok := InfoFor(LayerNetwork)
	assert.True(t, ok)
	assert.Equal(t, "lateral traffic between tenants", info.ProtectsAgainst)
	assert.Equal(t, "flat east-west connectivity", info.CommonFailure)
	_, ok = InfoFor("storage")
	assert.False(t, ok)

	all := Layers()
	assert.Len(t, all, 6)
	all[0].Title = "changed"
	assert.Equal(t, "Namespace", Layers()[0].Title, "Layers returns a copy")
	for _, l := range all {
		assert.True(t, l.Layer.Valid(), l.Layer)
		assert.NotEmpty(t, l.ProtectsAgainst)
		assert.NotEmpty(t, l.CommonFailure)
	}
}

func TestWorst(t *testing.T) {
	assert.Equal(t, Held("ok"), Worst("ok", nil, nil))
	assert.Equal(t, Errored("e1; e2"), Worst("ok", nil, []string{"e1", "e2"}))
	assert.Equal(t, Broken("b"), Worst("ok", []string{"b"}, []string{"e"}), "a broken finding outranks an error")
}
