package kube

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestBoundAccounts(t *testing.T) {
	crbs := []rbacv1.ClusterRoleBinding{{Subjects: []rbacv1.Subject{
		{Kind: rbacv1.ServiceAccountKind, Namespace: "a", Name: "ci"},
		{Kind: rbacv1.UserKind, Name: "system:serviceaccount:b:deployer"},
		{Kind: rbacv1.UserKind, Name: "alice"},
		{Kind: rbacv1.GroupKind, Name: "system:serviceaccounts:a"},
	}}}
	rbs := []rbacv1.RoleBinding{
		// A ServiceAccount subject without a namespace is the binding's.
		{ObjectMeta: metav1.ObjectMeta{Namespace: "a"}, Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "tenant-reconciler"}}},
		// Bound in another tenant's namespace: still one of a's accounts.
		{ObjectMeta: metav1.ObjectMeta{Namespace: "b"}, Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: "a", Name: "sneaky"}}},
	}
	got := BoundAccounts(crbs, rbs)
	assert.Equal(t, []string{"ci", "sneaky", "tenant-reconciler"}, got["a"])
	assert.Equal(t, []string{"deployer"}, got["b"])
}

func TestAccountsOf(t *testing.T) {
	exists := map[string]bool{"default": true, "ci": true}
	a := accountsOf("a", []string{"ci", "default", "gone"}, exists)
	assert.Equal(t, []string{"default", "ci"}, a.Names, "default first, once; a bound account that does not exist is left out")
	var many []string
	for i := range MaxAccountsPerNamespace + 2 {
		n := fmt.Sprintf("sa-%02d", i)
		many = append(many, n)
		exists[n] = true
	}
	a = accountsOf("a", many, exists)
	assert.Len(t, a.Names, MaxAccountsPerNamespace)
	assert.Len(t, a.Untried, 3)
}
