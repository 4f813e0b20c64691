package policyreport

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/tenantcheck/tenantcheck/internal/model"
)

func sample() *model.Report {
	ev := func(from, to string, v model.Verdict, raw string) model.Evidence {
		return model.Evidence{Action: "connect", From: from, To: to, Verdict: v, Raw: raw, Attempts: 1, Repro: "kubectl exec " + from}
	}
	results := []model.Result{
		{CheckID: "network/cross-tenant-tcp", Layer: model.LayerNetwork, Name: "cross-tenant TCP", Expected: "Blocked",
			Judgement: model.Broken("a -> b connected"), Evidence: []model.Evidence{
				ev("a/tc-probe-client", "b/tc-probe-server", model.VerdictHeld, "refused"),
				ev("a/tc-probe-client", "b/tc-probe-server", model.VerdictBroken, "connected"),
				ev("b/tc-probe-client", "a/tc-probe-server", model.VerdictHeld, "refused"),
			}},
		{CheckID: "rbac/list-nodes", Layer: model.LayerRBAC, Expected: "Forbidden", Judgement: model.Held("forbidden as expected"),
			Evidence: []model.Evidence{ev("a/default", "cluster", "", "Forbidden"), ev("a/tenant-reconciler", "cluster", "", "Forbidden")}},
		{CheckID: "quota/tenant-cannot-edit-quota", Layer: model.LayerQuota, Expected: "Forbidden", Judgement: model.Held("ok"),
			Evidence: []model.Evidence{ev("system:serviceaccount:a:default", "a", model.VerdictHeld, "Forbidden")}},
		{CheckID: "podsecurity/privileged", Layer: model.LayerPodSecurity, Expected: "Rejected",
			Judgement: model.Errored("b/x: not tried: positive control failed"), Evidence: []model.Evidence{
				ev("a/default", "a", model.VerdictHeld, "rejected"), ev("b/default", "b", model.VerdictHeld, "rejected")}},
		{CheckID: "flux/x", Layer: model.LayerFlux, Judgement: model.Skipped("no Flux")},
		{CheckID: "network/policy-enforced", Layer: model.LayerNetwork, Expected: "Blocked", Judgement: model.Held("refused"),
			Evidence: []model.Evidence{ev("outsider/tc-probe-client", "canary/tc-probe-server", model.VerdictHeld, "refused")}},
	}
	meta := model.Metadata{RunID: "r1", End: time.Unix(1700000000, 5)}
	return model.NewReport(meta, results, nil)
}

func rules(d Doc) map[string]string {
	out := map[string]string{}
	for _, r := range d.Results {
		out[r.Rule+" "+r.Properties[PropFrom]+">"+r.Properties[PropTo]] = r.Result
	}
	return out
}

func TestBuildSplitsChecksByPairIntoTheirNamespace(t *testing.T) {
	rep := sample()
	docs := Build(rep, []string{"a", "b"})
	require.Len(t, docs, 3, "the cluster report and one per tenant namespace")
	assert.Equal(t, "", docs[0].Namespace)
	assert.Equal(t, "a", docs[1].Namespace)
	assert.Equal(t, "b", docs[2].Namespace)

	assert.Equal(t, map[string]string{
		"network/cross-tenant-tcp b>a":       "pass",
		"rbac/list-nodes a>cluster":          "pass",
		"quota/tenant-cannot-edit-quota a>a": "pass",
		"podsecurity/privileged a>a":         "pass",
	}, rules(docs[1]))
	assert.Equal(t, map[string]string{
		"network/cross-tenant-tcp a>b": "fail",
		"podsecurity/privileged b>b":   "pass",
	}, rules(docs[2]), "the pair that held is not painted with the other pair's failure")
	assert.Equal(t, map[string]string{
		"podsecurity/privileged >": "error",
		"flux/x >":                 "skip",
		"network/policy-enforced outsider>canary": "pass",
	}, rules(docs[0]), "an Error no attempt carries, a skip and a path between non-tenant namespaces go to the cluster report")

	fail := docs[2].Results[0]
	assert.Equal(t, "high", fail.Severity)
	assert.Equal(t, "Broken x1, Held x1", fail.Properties[PropEvidence])
	assert.Equal(t, "2", fail.Properties[PropAttempts])
	assert.Equal(t, "kubectl exec a/tc-probe-client", fail.Properties[PropRepro])
	assert.Contains(t, fail.Message, "Broken on 1 of 2 attempt(s) from a to b: connect: connected")
	assert.Equal(t, []ObjectRef{{APIVersion: "v1", Kind: "Namespace", Name: "b"}}, fail.Resources)
	assert.Equal(t, Timestamp{Seconds: 1700000000, Nanos: 5}, fail.Timestamp)
	assert.Equal(t, ResultID("network/cross-tenant-tcp", "a", "b"), fail.Properties[PropResultID])
	assert.Equal(t, Summary{Pass: 1, Fail: 1}, docs[2].Summary)

	require.NoError(t, Verify(rep, docs))
}

func TestVerifyCatchesAResultBetterThanTheReport(t *testing.T) {
	rep := sample()
	docs := Build(rep, []string{"a", "b"})
	docs[2].Results[0].Result = "pass"
	docs[2].Summary = summarize(docs[2].Results)
	assert.ErrorContains(t, Verify(rep, docs), "network/cross-tenant-tcp: worst result pass, the report's verdict Broken")

	docs = Build(rep, []string{"a", "b"})
	docs[0].Results = docs[0].Results[1:] // the podsecurity Error dropped
	docs[0].Summary = summarize(docs[0].Results)
	assert.ErrorContains(t, Verify(rep, docs), "podsecurity/privileged: worst result pass, the report's verdict Error")
}

func TestEveryTenantNamespaceGetsAReportEvenWhenEmpty(t *testing.T) {
	docs := Build(sample(), []string{"a", "b", "c"})
	require.Len(t, docs, 4)
	assert.Equal(t, "c", docs[3].Namespace)
	assert.Empty(t, docs[3].Results)
}

func TestObjectPerAPI(t *testing.T) {
	docs := Build(sample(), []string{"a", "b"})
	for _, a := range APIs {
		ns, err := a.Object(docs[1], "r1")
		require.NoError(t, err)
		assert.Equal(t, a.Kind, ns.GetKind())
		assert.Equal(t, a.GroupVersion(), ns.GetAPIVersion())
		assert.Equal(t, "a", ns.GetNamespace())
		assert.Equal(t, Name, ns.GetName())
		assert.Equal(t, map[string]string{"app.kubernetes.io/managed-by": "tenantcheck", "app.kubernetes.io/name": "tenantcheck", LabelRun: "r1"}, ns.GetLabels(),
			"tenantcheck's marks, which the in-cluster runner's guard asks for")
		scope, _, _ := unstructured.NestedString(ns.Object, "scope", "name")
		assert.Equal(t, "a", scope)
		_, hasSource := ns.Object["source"]
		assert.Equal(t, a.SourceField, hasSource, "%s: a report-level source only where the schema has one", a.Name)

		cl, err := a.Object(docs[0], "r1")
		require.NoError(t, err)
		assert.Equal(t, a.ClusterKind, cl.GetKind())
		assert.Empty(t, cl.GetNamespace())
		assert.NotContains(t, cl.Object, "scope")
	}
}

func TestOutcomeNeverPassesAnError(t *testing.T) {
	assert.Equal(t, "error", Outcome(model.VerdictError))
	assert.Equal(t, "error", Outcome(""))
	assert.Equal(t, "fail", Outcome(model.VerdictBroken))
}
