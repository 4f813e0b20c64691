package baseline

import (
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ReconcilerName names the tenant automation's ServiceAccount, Role and
// RoleBinding.
const ReconcilerName = "tenant-reconciler"

// reconcilerVerbs are the verbs the guide grants on every rule.
var reconcilerVerbs = []string{"get", "list", "watch", "create", "update", "patch", "delete"}

// reconcilerResources are the guide's rules, by API group.
var reconcilerResources = []struct {
	group     string
	resources []string
}{
	{"", []string{"configmaps", "secrets", "services", "serviceaccounts"}},
	{"apps", []string{"deployments", "statefulsets", "daemonsets", "replicasets"}},
	{"batch", []string{"jobs", "cronjobs"}},
	{"networking.k8s.io", []string{"ingresses", "networkpolicies"}},
}

func serviceAccount(p Params) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta: objectMeta(ReconcilerName, p.Namespace, p.Labels),
	}
}

// role grants the tenant automation the guide's namespaced rules: enough to
// deploy workloads, never to touch RBAC or cluster-scoped objects.
func role(p Params) *rbacv1.Role {
	r := &rbacv1.Role{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"},
		ObjectMeta: objectMeta(ReconcilerName, p.Namespace, p.Labels),
	}
	for _, rr := range reconcilerResources {
		r.Rules = append(r.Rules, rbacv1.PolicyRule{
			APIGroups: []string{rr.group},
			Resources: append([]string(nil), rr.resources...),
			Verbs:     append([]string(nil), reconcilerVerbs...),
		})
	}
	return r
}

func roleBinding(p Params) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"},
		ObjectMeta: objectMeta(ReconcilerName, p.Namespace, p.Labels),
		Subjects: []rbacv1.Subject{{
			Kind:      rbacv1.ServiceAccountKind,
			Name:      ReconcilerName,
			Namespace: p.Namespace,
		}},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: ReconcilerName},
	}
}
