package incluster

import (
	"context"
	"errors"
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
	prev, err := StoreReport(ctx, cs, "ns", "reports", report(model.VerdictHeld))
	require.NoError(t, err)
	assert.Nil(t, prev, "nothing to compare with the first time")
	prev, err = StoreReport(ctx, cs, "ns", "reports", report(model.VerdictBroken))
	require.NoError(t, err)
	require.NotNil(t, prev)
	assert.Equal(t, model.VerdictHeld, prev.Results[0].Verdict)
	cm, err := cs.CoreV1().ConfigMaps("ns").Get(ctx, "reports", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Contains(t, cm.Data[KeyLatest], `"Broken"`)
	assert.Contains(t, cm.Data[KeyPrevious], `"Held"`)
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
