package incluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/tenantcheck/tenantcheck/internal/baseline"
	"github.com/tenantcheck/tenantcheck/internal/model"
)

func TestLock(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	release, err := Lock(ctx, cs, "ns", "lock", "run-1", time.Minute, 0)
	require.NoError(t, err)
	_, err = Lock(ctx, cs, "ns", "lock", "run-2", time.Minute, 0)
	assert.True(t, errors.Is(err, ErrLocked), "a second run is refused: %v", err)
	assert.ErrorContains(t, err, "run-1 holds lease ns/lock")
	release()
	release2, err := Lock(ctx, cs, "ns", "lock", "run-2", time.Minute, 0)
	require.NoError(t, err, "free again after release")
	release2()

	// An expired lease of a crashed run is taken over.
	past := metav1.NewMicroTime(time.Now().Add(-time.Hour))
	holder, secs := "crashed", int32(60)
	_, err = cs.CoordinationV1().Leases("ns").Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "lock", Namespace: "ns"},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &secs, RenewTime: &past}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = Lock(ctx, cs, "ns", "lock", "run-3", time.Minute, 0)
	assert.NoError(t, err)
}

func report(v model.Verdict) *model.Report {
	j := model.Held("ok")
	if v == model.VerdictBroken {
		j = model.Broken("leak")
	}
	return model.NewReport(model.Metadata{Mode: model.ModeAudit}, []model.Result{
		model.Check{ID: "network/x", Layer: model.LayerNetwork, Name: "x", Expected: model.ExpectReach(model.ReachBlocked)}.Result(j)}, nil)
}

func TestStoreReportKeepsPrevious(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	stored, err := StoreReport(ctx, cs, "ns", "reports", report(model.VerdictHeld))
	require.NoError(t, err)
	assert.Nil(t, stored.Previous, "nothing to compare with the first time")
	stored, err = StoreReport(ctx, cs, "ns", "reports", report(model.VerdictBroken))
	require.NoError(t, err)
	require.NotNil(t, stored.Previous)
	assert.Empty(t, stored.Note)
	assert.Equal(t, model.VerdictHeld, stored.Previous.Results[0].Verdict)
	cm, err := cs.CoreV1().ConfigMaps("ns").Get(ctx, "reports", metav1.GetOptions{})
	require.NoError(t, err)
	latest, previous := LoadReports(cm)
	require.NotNil(t, latest)
	require.NotNil(t, previous)
	assert.Equal(t, model.VerdictBroken, latest.Results[0].Verdict)
	assert.Equal(t, model.VerdictHeld, previous.Results[0].Verdict)
	assert.Empty(t, cm.Data, "reports are kept compressed, in binaryData")
}

// A ConfigMap written by an older tenantcheck (uncompressed, in data) is
// read, and moved to the compressed keys on the next store.
func TestStoreReportReadsLegacyKeys(t *testing.T) {
	ctx := context.Background()
	old, err := json.Marshal(report(model.VerdictHeld))
	require.NoError(t, err)
	cs := fake.NewClientset(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "reports", Namespace: "ns"},
		Data: map[string]string{"latest.json": string(old), "previous.json": string(old)}})
	stored, err := StoreReport(ctx, cs, "ns", "reports", report(model.VerdictBroken))
	require.NoError(t, err)
	require.NotNil(t, stored.Previous)
	assert.Equal(t, model.VerdictHeld, stored.Previous.Results[0].Verdict)
	cm, err := cs.CoreV1().ConfigMaps("ns").Get(ctx, "reports", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Empty(t, cm.Data)
	latest, previous := LoadReports(cm)
	assert.Equal(t, model.VerdictBroken, latest.Results[0].Verdict)
	assert.Equal(t, model.VerdictHeld, previous.Results[0].Verdict)
}

// bigReport is a report of n tenants as a run would give it: per tenant,
// every layer's checks, each with evidence of its attempts.
func bigReport(n int, v model.Verdict) *model.Report {
	var results []model.Result
	var tenants []string
	for i := range n {
		tenant := fmt.Sprintf("tenant-%03d", i)
		tenants = append(tenants, tenant)
		for _, id := range []string{"network/cross-tenant-tcp", "network/cross-tenant-udp", "rbac/cross-tenant-read-secrets", "quota/over-quota-pod-rejected", "podsecurity/privileged-pod-blocked"} {
			j := model.Held("all paths blocked")
			if v == model.VerdictBroken && i == 0 {
				j = model.Broken("leak")
			}
			r := model.Check{ID: fmt.Sprintf("%s-%s", id, tenant), Layer: model.LayerNetwork, Name: id, Expected: model.ExpectReach(model.ReachBlocked)}.Result(j)
			for k := range 40 {
				r.Evidence = append(r.Evidence, model.Evidence{Action: fmt.Sprintf("TCP/8080 via pod IP (10.244.%d.%d:8080)", i, k),
					From: tenant + "-prod/tc-probe-client", To: fmt.Sprintf("tenant-%03d-prod/tc-probe-server", (i+k)%n),
					Raw:   fmt.Sprintf("attempts: round 1 at 22:00:00.%03d: refused 1ms; last: {\"target\":{\"id\":\"%d-%d\"},\"outcome\":\"refused\"}", k, i, k),
					Repro: fmt.Sprintf("kubectl exec -n %s-prod tc-probe-client -c probe -- /tenantcheck-probe connect --host 10.244.%d.%d --port 8080", tenant, i, k)})
			}
			results = append(results, r)
		}
	}
	return model.NewReport(model.Metadata{Mode: model.ModeAudit, Tenants: tenants}, results, nil)
}

// Issue 13, must show 5: a report of 100 tenants is stored and read back
// whole, with the previous one; one too large even compressed keeps its
// summary and says so, and is never an error.
func TestStoreReportOf100Tenants(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	first, second := bigReport(100, model.VerdictHeld), bigReport(100, model.VerdictBroken)
	raw, err := json.Marshal(second)
	require.NoError(t, err)
	require.Greater(t, len(raw), 1<<20, "uncompressed, it would not fit in a ConfigMap")

	_, err = StoreReport(ctx, cs, "ns", "reports", first)
	require.NoError(t, err)
	stored, err := StoreReport(ctx, cs, "ns", "reports", second)
	require.NoError(t, err)
	assert.Empty(t, stored.Note, "both fit compressed")
	require.NotNil(t, stored.Previous)
	cm, err := cs.CoreV1().ConfigMaps("ns").Get(ctx, "reports", metav1.GetOptions{})
	require.NoError(t, err)
	size := 0
	for _, b := range cm.BinaryData {
		size += len(b)
	}
	assert.LessOrEqual(t, size, MaxStored)
	latest, previous := LoadReports(cm)
	require.NotNil(t, latest)
	require.NotNil(t, previous)
	assert.Equal(t, second.Results, latest.Results, "read back whole, evidence included")
	assert.Equal(t, first.Results[0].Verdict, previous.Results[0].Verdict)

	// A report whose evidence does not compress away: its summary is kept.
	huge := bigReport(100, model.VerdictBroken)
	for i := range huge.Results {
		for k := range huge.Results[i].Evidence {
			huge.Results[i].Evidence[k].Raw = randomText(i*1000 + k)
		}
	}
	stored, err = StoreReport(ctx, cs, "ns", "reports", huge)
	require.NoError(t, err, "never an error over the size")
	assert.Contains(t, stored.Note, "stored without evidence")
	cm, err = cs.CoreV1().ConfigMaps("ns").Get(ctx, "reports", metav1.GetOptions{})
	require.NoError(t, err)
	latest, _ = LoadReports(cm)
	require.NotNil(t, latest)
	assert.Len(t, latest.Results, len(huge.Results), "every verdict is kept")
	assert.Empty(t, latest.Results[0].Evidence)
	assert.Equal(t, model.VerdictBroken, latest.Results[0].Verdict)
	assert.Contains(t, latest.Metadata.StorageNote, "stored without evidence")
}

// randomText is 400 bytes that gzip cannot shrink much, from seed.
func randomText(seed int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, 400)
	x := uint64(seed)*2654435761 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = alphabet[x%uint64(len(alphabet))]
	}
	return string(b)
}

func TestEmitBrokenEvents(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	require.NoError(t, EmitBrokenEvents(ctx, cs, report(model.VerdictBroken), []string{"a", "b"}))
	for _, ns := range []string{"a", "b"} {
		evs, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
		require.NoError(t, err)
		require.Len(t, evs.Items, 1)
		assert.Equal(t, ReasonBroken, evs.Items[0].Reason)
		assert.Contains(t, evs.Items[0].Message, "layer network is broken: network/x")
		assert.Equal(t, "tenantcheck", evs.Items[0].Labels["app.kubernetes.io/managed-by"], "marked, as deploy/'s guard asks")
		assert.Equal(t, ns, evs.Items[0].InvolvedObject.Namespace, "the API server refuses an Event whose object is in no namespace")
		assert.NotEmpty(t, evs.Items[0].Labels["tenantcheck.io/run"])
	}
	require.NoError(t, EmitBrokenEvents(ctx, cs, report(model.VerdictHeld), []string{"c"}))
	evs, _ := cs.CoreV1().Events("c").List(ctx, metav1.ListOptions{})
	assert.Empty(t, evs.Items, "no event when every layer holds")
}

func TestSweepOnlyOldAndOurs(t *testing.T) {
	ctx := context.Background()
	ours := baseline.OwnershipLabels("old")
	old := metav1.NewTime(time.Now().Add(-2 * time.Hour))
	cs := fake.NewClientset(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tc-old-tenant-a", Labels: ours, CreationTimestamp: old}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tc-old-new", Labels: ours, CreationTimestamp: metav1.Now()}},
		// Someone put tenantcheck's labels on their own namespace: not ours.
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "prod-db", Labels: ours, CreationTimestamp: old}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tenant", CreationTimestamp: old}},
	)
	scheme := runtime.NewScheme()
	require.NoError(t, corev1.AddToScheme(scheme))
	pods := schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(scheme, map[schema.GroupVersionResource]string{pods: "PodList"},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: "tenant", Labels: ours, CreationTimestamp: old}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "young", Namespace: "tenant", Labels: ours, CreationTimestamp: metav1.Now()}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "tenant", CreationTimestamp: old}},
	)
	n, err := Sweep(ctx, cs, dyn, []schema.GroupVersionResource{pods}, time.Hour)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	nss, _ := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	var names []string
	for _, ns := range nss.Items {
		names = append(names, ns.Name)
	}
	assert.ElementsMatch(t, []string{"tc-old-new", "prod-db", "tenant"}, names)
	left, err := dyn.Resource(pods).Namespace("tenant").List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	var podNames []string
	for _, p := range left.Items {
		podNames = append(podNames, p.GetName())
	}
	assert.ElementsMatch(t, []string{"app", "young"}, podNames, "only old pods carrying tenantcheck's label are swept")
}
