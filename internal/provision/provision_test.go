package provision

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/tenantcheck/tenantcheck/internal/baseline"
)

func namespace(name string, labels map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

func TestEnsureNamespacesFree(t *testing.T) {
	tests := []struct {
		name     string
		existing []string
		check    []string
		taken    string // the names the error lists; "" means free
	}{
		{"nothing exists", nil, []string{"tenant-a-x1", "tenant-b-x1"}, ""},
		{"others exist", []string{"default", "kube-system"}, []string{"tenant-a-x1", "tenant-b-x1"}, ""},
		{"no names", []string{"default"}, nil, ""},
		{"one taken", []string{"tenant-b-x1"}, []string{"tenant-a-x1", "tenant-b-x1"}, "tenant-b-x1"},
		{"every taken one named", []string{"tenant-a-x1", "outsider-x1", "default"}, []string{"tenant-a-x1", "tenant-b-x1", "outsider-x1"}, "tenant-a-x1, outsider-x1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var objs []runtime.Object
			for _, n := range tt.existing {
				objs = append(objs, namespace(n, nil))
			}
			cs := fake.NewClientset(objs...)
			err := EnsureNamespacesFree(context.Background(), cs, tt.check)
			if tt.taken == "" {
				assert.NoError(t, err)
			} else {
				require.Error(t, err)
				assert.Contains(t, err.Error(), "namespace "+tt.taken+" already exists")
				assert.Contains(t, err.Error(), "nothing was created")
			}
			for _, a := range cs.Actions() {
				assert.Equal(t, "get", a.GetVerb(), "checking never changes anything")
			}
		})
	}
}

func TestEnsureNamespacesFreeAPIError(t *testing.T) {
	cs := fake.NewClientset()
	cs.PrependReactor("get", "namespaces", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("etcdserver: request timed out")
	})
	err := EnsureNamespacesFree(context.Background(), cs, []string{"tenant-a-x1"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "check namespace tenant-a-x1: etcdserver: request timed out",
		"an API failure is not read as a free namespace")
}

func TestCreateEverySupportedKind(t *testing.T) {
	const ns = "tenant-a-x1"
	meta := metav1.ObjectMeta{Name: "obj", Namespace: ns}
	objs := []runtime.Object{
		namespace(ns, nil),
		&corev1.ResourceQuota{ObjectMeta: meta},
		&corev1.LimitRange{ObjectMeta: meta},
		&corev1.ServiceAccount{ObjectMeta: meta},
		&corev1.Service{ObjectMeta: meta},
		&corev1.Pod{ObjectMeta: meta},
		&networkingv1.NetworkPolicy{ObjectMeta: meta},
		&rbacv1.Role{ObjectMeta: meta},
		&rbacv1.RoleBinding{ObjectMeta: meta},
	}
	cs := fake.NewClientset()
	ctx := context.Background()
	require.NoError(t, Create(ctx, cs, objs))

	get := map[string]func() error{
		"namespace": func() error { _, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); return err },
		"resourcequota": func() error {
			_, err := cs.CoreV1().ResourceQuotas(ns).Get(ctx, "obj", metav1.GetOptions{})
			return err
		},
		"limitrange": func() error { _, err := cs.CoreV1().LimitRanges(ns).Get(ctx, "obj", metav1.GetOptions{}); return err },
		"serviceaccount": func() error {
			_, err := cs.CoreV1().ServiceAccounts(ns).Get(ctx, "obj", metav1.GetOptions{})
			return err
		},
		"service": func() error { _, err := cs.CoreV1().Services(ns).Get(ctx, "obj", metav1.GetOptions{}); return err },
		"pod":     func() error { _, err := cs.CoreV1().Pods(ns).Get(ctx, "obj", metav1.GetOptions{}); return err },
		"networkpolicy": func() error {
			_, err := cs.NetworkingV1().NetworkPolicies(ns).Get(ctx, "obj", metav1.GetOptions{})
			return err
		},
		"role":        func() error { _, err := cs.RbacV1().Roles(ns).Get(ctx, "obj", metav1.GetOptions{}); return err },
		"rolebinding": func() error { _, err := cs.RbacV1().RoleBindings(ns).Get(ctx, "obj", metav1.GetOptions{}); return err },
	}
	for kind, g := range get {
		assert.NoError(t, g(), "%s was created", kind)
	}

	var created []string
	for _, a := range cs.Actions() {
		if a.GetVerb() == "create" {
			created = append(created, a.GetResource().Resource)
		}
	}
	assert.Equal(t, []string{"namespaces", "resourcequotas", "limitranges", "serviceaccounts", "services", "pods",
		"networkpolicies", "roles", "rolebindings"}, created, "objects are created in the order given")
}

func TestCreateErrors(t *testing.T) {
	tests := []struct {
		name    string
		objs    []runtime.Object
		wantErr string
		created int // create calls that reached the API
	}{
		{
			name:    "unsupported kind",
			objs:    []runtime.Object{namespace("a", nil), &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "d", Namespace: "a"}}, namespace("b", nil)},
			wantErr: "create: unsupported object *v1.Deployment",
			created: 1,
		},
		{
			name:    "unsupported core kind",
			objs:    []runtime.Object{&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "a"}}},
			wantErr: "unsupported object *v1.ConfigMap",
			created: 0,
		},
		{
			name:    "already exists stops at the first error",
			objs:    []runtime.Object{namespace("a", nil), &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "a"}}, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "a"}}, namespace("b", nil)},
			wantErr: `create service a/s: services "s" already exists`,
			created: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := fake.NewClientset()
			err := Create(context.Background(), cs, tt.objs)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			n := 0
			for _, a := range cs.Actions() {
				if a.GetVerb() == "create" {
					n++
				}
			}
			assert.Equal(t, tt.created, n, "nothing after the failing object is created")
			_, err = cs.CoreV1().Namespaces().Get(context.Background(), "b", metav1.GetOptions{})
			assert.Error(t, err, "namespace b, after the failure, does not exist")
		})
	}
}

func TestSelector(t *testing.T) {
	assert.Equal(t, "app.kubernetes.io/managed-by=tenantcheck", Selector(""))
	assert.Equal(t, "app.kubernetes.io/managed-by=tenantcheck,tenantcheck.io/run=abc", Selector("abc"))
}

func TestCleanup(t *testing.T) {
	run1 := baseline.OwnershipLabels("run01")
	run2 := baseline.OwnershipLabels("run02")
	existing := []runtime.Object{
		namespace("tenant-a-run01", run1),
		namespace("tenant-b-run01", run1),
		namespace("tenant-a-run02", run2),
		namespace("default", nil),
		namespace("tenant-a-prod", map[string]string{"tenant": "tenant-a"}),
		// Only one of tenantcheck's two labels: not ours to delete.
		namespace("lookalike", map[string]string{baseline.LabelRun: "run01"}),
		namespace("other-tool", map[string]string{baseline.LabelManagedBy: "helm"}),
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "tenant-a-run01"}},
	}
	tests := []struct {
		name    string
		runID   string
		deleted []string
	}{
		{"one run", "run01", []string{"tenant-a-run01", "tenant-b-run01"}},
		{"every run", "", []string{"tenant-a-run01", "tenant-a-run02", "tenant-b-run01"}},
		{"unknown run", "zzzzz", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := fake.NewClientset(existing...)
			ctx := context.Background()
			before, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
			require.NoError(t, err)

			left, err := Cleanup(ctx, cs, Selector(tt.runID), 5*time.Second)
			require.NoError(t, err)
			assert.Empty(t, left, "the fake deletes namespaces at once")

			var deleted []string
			podsCleared := map[string]bool{}
			for _, a := range cs.Actions() {
				switch a := a.(type) {
				case k8stesting.DeleteCollectionActionImpl:
					require.Equal(t, "pods", a.GetResource().Resource)
					require.NotNil(t, a.DeleteOptions.GracePeriodSeconds)
					assert.Zero(t, *a.DeleteOptions.GracePeriodSeconds, "pods go without a grace period")
					podsCleared[a.GetNamespace()] = true
				case k8stesting.DeleteAction:
					require.Equal(t, "namespaces", a.GetResource().Resource)
					assert.True(t, podsCleared[a.GetName()], "the pods of %s are deleted before the namespace", a.GetName())
					deleted = append(deleted, a.GetName())
				}
			}
			assert.ElementsMatch(t, tt.deleted, deleted)

			after, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
			require.NoError(t, err)
			var remaining []string
			for _, ns := range after.Items {
				remaining = append(remaining, ns.Name)
			}
			var want []string
			for _, ns := range before.Items {
				if !contains(tt.deleted, ns.Name) {
					want = append(want, ns.Name)
				}
			}
			assert.ElementsMatch(t, want, remaining)
			assert.Contains(t, remaining, "lookalike")
			assert.Contains(t, remaining, "other-tool")
			assert.Contains(t, remaining, "default")
		})
	}
}

func TestCleanupSkipsNamespacesAlreadyGoing(t *testing.T) {
	going := namespace("tenant-a-run01", baseline.OwnershipLabels("run01"))
	now := metav1.Now()
	going.DeletionTimestamp = &now
	going.Finalizers = []string{"kubernetes"}
	cs := fake.NewClientset(going)

	left, err := Cleanup(context.Background(), cs, Selector("run01"), 600*time.Millisecond)
	require.NoError(t, err)
	assert.Equal(t, []string{"tenant-a-run01"}, left, "a namespace still terminating when time runs out is reported")
	for _, a := range cs.Actions() {
		assert.NotEqual(t, "delete", a.GetVerb(), "a terminating namespace is not deleted again")
	}
}

func TestCleanupReportsDeleteErrors(t *testing.T) {
	cs := fake.NewClientset(
		namespace("tenant-a-run01", baseline.OwnershipLabels("run01")),
		namespace("tenant-b-run01", baseline.OwnershipLabels("run01")),
	)
	cs.PrependReactor("delete", "namespaces", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.(k8stesting.DeleteAction).GetName() == "tenant-a-run01" {
			return true, nil, errors.New("forbidden by a webhook")
		}
		return false, nil, nil
	})
	left, err := Cleanup(context.Background(), cs, Selector("run01"), 600*time.Millisecond)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "delete namespace tenant-a-run01: forbidden by a webhook")
	assert.Equal(t, []string{"tenant-a-run01"}, left, "one failed delete does not stop the others")
}

func TestCleanupListError(t *testing.T) {
	cs := fake.NewClientset()
	cs.PrependReactor("list", "namespaces", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("connection refused")
	})
	left, err := Cleanup(context.Background(), cs, Selector(""), time.Second)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "list namespaces app.kubernetes.io/managed-by=tenantcheck: connection refused")
	assert.Nil(t, left)
}

func TestWaitServiceAccount(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset(&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "ready"}})
	assert.NoError(t, WaitServiceAccount(ctx, cs, "ready", time.Second))
	assert.Error(t, WaitServiceAccount(ctx, cs, "not-ready", 300*time.Millisecond))
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestRunOwned(t *testing.T) {
	ours := baseline.OwnershipLabels("ab12c")
	assert.True(t, RunOwned(namespace("tc-ab12c-tenant-a-prod", ours)))
	assert.False(t, RunOwned(namespace("prod-db", ours)), "anyone may label a namespace as tenantcheck's")
	assert.False(t, RunOwned(namespace("tc-zz99z-tenant-a-prod", ours)), "named for another run")
	assert.False(t, RunOwned(namespace("tc-ab12c-x", map[string]string{baseline.LabelRun: "ab12c"})), "not managed by tenantcheck")
}

func TestCleanupRunsLeavesOthersAlone(t *testing.T) {
	ours := baseline.OwnershipLabels("ab12c")
	cs := fake.NewClientset(namespace("tc-ab12c-outsider", ours), namespace("prod-db", ours))
	left, err := CleanupRuns(context.Background(), cs, "", time.Second)
	require.NoError(t, err)
	assert.Empty(t, left)
	_, err = cs.CoreV1().Namespaces().Get(context.Background(), "prod-db", metav1.GetOptions{})
	assert.NoError(t, err, "a namespace someone else labelled is left alone")
	_, err = cs.CoreV1().Namespaces().Get(context.Background(), "tc-ab12c-outsider", metav1.GetOptions{})
	assert.Error(t, err)
}

// Mimics carry the run's marks as annotations; markedPods finds them, and
// neither a labelled pod nor another run's mimic.
func TestMarkedPods(t *testing.T) {
	pod := func(name string, labels, annotations map[string]string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "t", Labels: labels, Annotations: annotations}}
	}
	run := map[string]string{baseline.LabelManagedBy: baseline.ManagedByTenantcheck, baseline.LabelRun: "r1"}
	other := map[string]string{baseline.LabelManagedBy: baseline.ManagedByTenantcheck, baseline.LabelRun: "r2"}
	cs := fake.NewClientset(
		pod("tc-mimic-0", map[string]string{"app": "api"}, run),
		pod("tc-mimic-1", nil, other),
		pod("tc-probe-client", run, nil),
		pod("api-0", map[string]string{"app": "api"}, map[string]string{"x": "y"}),
	)
	got, err := markedPods(context.Background(), cs, "t", Selector("r1"))
	require.NoError(t, err)
	assert.Equal(t, []string{"tc-mimic-0"}, got)
	got, err = markedPods(context.Background(), cs, "t", Selector(""))
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"tc-mimic-0", "tc-mimic-1"}, got)
}

func TestCleanupMarkedPods(t *testing.T) {
	run := map[string]string{baseline.LabelManagedBy: baseline.ManagedByTenantcheck, baseline.LabelRun: "r1"}
	cs := fake.NewClientset(
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "tc-mimic-0", Namespace: "a", Annotations: run}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "tc-mimic-1", Namespace: "b", Annotations: run}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "api-0", Namespace: "b", Labels: map[string]string{"app": "api"}}},
	)
	n, err := CleanupMarkedPods(context.Background(), cs, Selector(""), time.Second)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	pods, err := cs.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, pods.Items, 1)
	assert.Equal(t, "api-0", pods.Items[0].Name, "the tenant's own pod stays")
}
