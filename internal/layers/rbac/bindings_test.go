package rbac

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/tenantcheck/tenantcheck/internal/model"
)

const (
	nsA = "tenant-a-prod-x1"
	nsB = "tenant-b-prod-x1"
)

var twoTenants = []Tenant{{Name: "tenant-a", Namespaces: []string{nsA}}, {Name: "tenant-b", Namespaces: []string{nsB}}}

func sa(ns, name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: ns}
}

func group(name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: name}
}

func crb(name, role string, subjects ...rbacv1.Subject) *rbacv1.ClusterRoleBinding {
	return &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name}, Subjects: subjects,
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role}}
}

func rb(ns, name, role string, subjects ...rbacv1.Subject) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Subjects: subjects,
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role}}
}

// The guide's baseline plus what a stock cluster has: nothing is a finding.
func baselineBindings() []runtime.Object {
	return []runtime.Object{
		rb(nsA, "tenant-reconciler", "tenant-reconciler", sa(nsA, "tenant-reconciler")),
		rb(nsB, "tenant-reconciler", "tenant-reconciler", sa(nsB, "tenant-reconciler")),
		// Kubernetes' own, even though it binds a broad group.
		crb("system:basic-user", "system:basic-user", group("system:authenticated")),
		crb("system:service-account-issuer-discovery", "system:service-account-issuer-discovery", group("system:serviceaccounts")),
		// A broad group bound to a built-in system: role by a non-system binding.
		crb("kubeadm:public-info", "system:public-info-viewer", group("system:unauthenticated")),
		crb("cluster-admin", "cluster-admin", group("system:masters")),
		rb("kube-system", "system:controller:bootstrap-signer", "system:controller:bootstrap-signer", sa("kube-system", "bootstrap-signer")),
	}
}

func scan(t *testing.T, extra ...runtime.Object) model.Result {
	t.Helper()
	cs := fake.NewClientset(append(baselineBindings(), extra...)...)
	r := scanBindings(context.Background(), cs, twoTenants, "kubectl")
	require.NoError(t, r.Validate())
	return r
}

func TestScanBindingsBaselineHolds(t *testing.T) {
	r := scan(t)
	assert.Equal(t, model.VerdictHeld, r.Verdict, r.Reason)
	assert.Contains(t, r.Reason, "read 4 ClusterRoleBindings and 3 RoleBindings")
	require.Len(t, r.Evidence, 1)
	assert.Equal(t, "kubectl get clusterrolebindings,rolebindings --all-namespaces -o wide", r.Evidence[0].Repro)
}

func TestScanBindingsFindings(t *testing.T) {
	tests := []struct {
		name   string
		obj    runtime.Object
		reason string
		repro  string
	}{
		{"tenant reconciler bound to view cluster-wide", crb("tc-x1-view", "view", sa(nsA, "tenant-reconciler")),
			"ClusterRoleBinding tc-x1-view binds ServiceAccount " + nsA + "/tenant-reconciler to ClusterRole view: tenant tenant-a's identity holds it in every namespace",
			"kubectl get clusterrolebinding tc-x1-view -o yaml"},
		{"tenant b grants tenant a's reconciler", rb(nsB, "tc-leak", "tc-leak", sa(nsA, "tenant-reconciler")),
			"RoleBinding " + nsB + "/tc-leak binds ServiceAccount " + nsA + "/tenant-reconciler to Role tc-leak: tenant tenant-a's identity holds it in tenant tenant-b's namespace " + nsB,
			"kubectl get rolebinding tc-leak -n " + nsB + " -o yaml"},
		{"tenant namespace's account group cluster-wide", crb("all-of-a", "edit", group("system:serviceaccounts:"+nsA)),
			"Group system:serviceaccounts:" + nsA + " to ClusterRole edit", ""},
		{"tenant account named as a user", rb("kube-system", "peek", "reader", rbacv1.Subject{Kind: rbacv1.UserKind, Name: "system:serviceaccount:" + nsB + ":default"}),
			"tenant tenant-b's identity holds it in namespace kube-system", ""},
		{"every service account made admin", crb("oops", "cluster-admin", group("system:serviceaccounts")),
			"every tenant identity holds it in every namespace", ""},
		{"a tenant namespace opened to everyone", rb(nsB, "open", "tenant-reconciler", group("system:authenticated")),
			"every identity holds it in tenant tenant-b's namespace " + nsB, ""},
		// A system: name is easy to borrow: it hides nothing.
		{"a system:-named binding of a tenant account", crb("system:oddity", "view", sa(nsA, "tenant-reconciler")),
			"ClusterRoleBinding system:oddity binds ServiceAccount " + nsA + "/tenant-reconciler", ""},
		{"a broad group bound to a system: role that is not everyone's", crb("system:shortcut", "system:controller:namespace-controller", group("system:authenticated")),
			"every tenant identity holds it in every namespace", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := scan(t, tt.obj)
			assert.Equal(t, model.VerdictBroken, r.Verdict)
			assert.Contains(t, r.Reason, tt.reason)
			require.Len(t, r.Evidence, 1)
			if tt.repro != "" {
				assert.Equal(t, tt.repro, r.Evidence[0].Repro)
			}
		})
	}
}

func TestScanBindingsIgnores(t *testing.T) {
	tests := []struct {
		name string
		obj  runtime.Object
	}{
		{"a tenant's extra binding in its own namespace", rb(nsA, "more", "edit", sa(nsA, "tenant-reconciler"))},
		{"an account subject without namespace is the binding's own", rb(nsB, "own", "edit", rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: "default"})},
		{"a platform account", crb("calico-node", "calico-node", sa("calico-system", "calico-node"))},
		{"a broad group outside tenant namespaces", rb("kube-public", "cluster-info", "reader", group("system:unauthenticated"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := scan(t, tt.obj)
			assert.Equal(t, model.VerdictHeld, r.Verdict, r.Reason)
		})
	}
}

func TestScanBindingsWithoutListPermission(t *testing.T) {
	cs := fake.NewClientset()
	cs.PrependReactor("list", "clusterrolebindings", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: rbacv1.GroupName, Resource: "clusterrolebindings"}, "",
			assert.AnError)
	})
	r := scanBindings(context.Background(), cs, twoTenants, "kubectl")
	assert.Equal(t, model.VerdictError, r.Verdict)
	assert.Contains(t, r.Reason, "the runner may not list clusterrolebindings.rbac.authorization.k8s.io: 403")
}

func TestScanBindingsPeople(t *testing.T) {
	tenants := []Tenant{
		{Name: "tenant-a", Namespaces: []string{nsA}, Users: []string{"alice@example.com"}, Groups: []string{"team-a"}},
		{Name: "tenant-b", Namespaces: []string{nsB}},
	}
	user := rbacv1.Subject{Kind: rbacv1.UserKind, Name: "alice@example.com"}
	found := findings(nil, []rbacv1.RoleBinding{
		*rb(nsB, "alice-in-b", "edit", user),
		*rb(nsA, "alice-at-home", "edit", user),
	}, tenants)
	require.Len(t, found, 1, "a tenant's user in its own namespace is no finding")
	assert.Contains(t, found[0].String(), "User alice@example.com to Role edit: tenant tenant-a's identity holds it in tenant tenant-b's namespace "+nsB)
	found = findings([]rbacv1.ClusterRoleBinding{*crb("team-a-view", "view", group("team-a"))}, nil, tenants)
	require.Len(t, found, 1)
	assert.Contains(t, found[0].String(), "tenant tenant-a's identity holds it in every namespace")
}

// The bindings Kubernetes v1.37 itself makes to broad groups are no finding.
func TestScanBindingsBuiltInBroadBindings(t *testing.T) {
	var crbs []rbacv1.ClusterRoleBinding
	for name, g := range map[string]string{
		"system:basic-user": "system:authenticated", "system:discovery": "system:authenticated",
		"system:public-info-viewer": "system:unauthenticated", "system:service-account-issuer-discovery": "system:serviceaccounts",
		"system:cluster-trust-bundle-discovery": "system:serviceaccounts",
	} {
		crbs = append(crbs, *crb(name, name, group(g)))
	}
	assert.Empty(t, findings(crbs, nil, twoTenants))
}
