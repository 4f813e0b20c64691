package network

import (
	"context"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/tenantcheck/tenantcheck/internal/kube"
	"github.com/tenantcheck/tenantcheck/internal/model"
)

// Admin-tier policies (sigs.k8s.io/network-policy-api's ClusterNetworkPolicy,
// policy.networking.k8s.io/v1alpha2) are evaluated before (tier Admin) or
// after (tier Baseline) the tenants' NetworkPolicies, and the static
// evaluator does not read them. Where the cluster serves them they are
// listed, read-only, beside the static check: an Admin-tier Deny can close
// a path the namespace policies open (the live column then says Blocked),
// and an Accept can open one they close.
//
// They are read as unstructured objects: the few fields shown (tier,
// priority, subject, rule names and actions) do not justify the types
// module, which would raise the go directive and pull in controller-runtime.

var clusterNetworkPolicies = schema.GroupVersionResource{Group: "policy.networking.k8s.io", Version: "v1alpha2", Resource: "clusternetworkpolicies"}

// adminPermission: list the admin-tier policies, where served.
var adminPermission = kube.Permission{Verb: "list", Group: clusterNetworkPolicies.Group, Resource: clusterNetworkPolicies.Resource}

// AdminPolicy is one ClusterNetworkPolicy as the report lists it.
type AdminPolicy struct {
	Name     string
	Tier     string
	Priority int64
	Subject  string
	Rules    []string // "ingress Deny select-all-deny-all"
}

func (p AdminPolicy) String() string {
	s := fmt.Sprintf("ClusterNetworkPolicy %s: tier %s, priority %d, subject %s", p.Name, p.Tier, p.Priority, p.Subject)
	if len(p.Rules) > 0 {
		s += ", rules: " + strings.Join(p.Rules, "; ")
	}
	return s
}

// readAdminPolicies lists the cluster's ClusterNetworkPolicies, Admin tier
// first, each by priority. served is false when the cluster does not serve
// them; err says why they could not be read when it does.
func readAdminPolicies(ctx context.Context, c *kube.Client) (out []AdminPolicy, served bool, err error) {
	if _, err := c.Clientset.Discovery().ServerResourcesForGroupVersion(clusterNetworkPolicies.GroupVersion().String()); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("discover %s: %w", clusterNetworkPolicies.GroupVersion(), err)
	}
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		return nil, true, err
	}
	list, err := dyn.Resource(clusterNetworkPolicies).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, true, kube.Explain(err, "list clusternetworkpolicies")
	}
	for _, o := range list.Items {
		out = append(out, adminPolicyOf(o))
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Tier != out[j].Tier {
			return out[i].Tier == "Admin"
		}
		return out[i].Priority < out[j].Priority
	})
	return out, true, nil
}

func adminPolicyOf(o unstructured.Unstructured) AdminPolicy {
	p := AdminPolicy{Name: o.GetName()}
	p.Tier, _, _ = unstructured.NestedString(o.Object, "spec", "tier")
	p.Priority, _, _ = unstructured.NestedInt64(o.Object, "spec", "priority")
	if subject, ok, _ := unstructured.NestedMap(o.Object, "spec", "subject"); ok {
		p.Subject = compact(subject)
	}
	for _, dir := range []string{"ingress", "egress"} {
		rules, _, _ := unstructured.NestedSlice(o.Object, "spec", dir)
		for _, r := range rules {
			m, _ := r.(map[string]any)
			action, _ := m["action"].(string)
			name, _ := m["name"].(string)
			p.Rules = append(p.Rules, strings.TrimSpace(fmt.Sprintf("%s %s %s", dir, action, name)))
		}
	}
	return p
}

// compact renders a small map as sorted key=value pairs, nested in braces.
func compact(m map[string]any) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		switch v := m[k].(type) {
		case map[string]any:
			parts = append(parts, k+"="+compact(v))
		default:
			parts = append(parts, fmt.Sprintf("%s=%v", k, v))
		}
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// withAdminPolicies adds the admin-tier policies to the static check's
// result: named in the reason, one evidence item each.
func withAdminPolicies(c *kube.Client, r model.Result, pols []AdminPolicy, err error) model.Result {
	if err != nil {
		r.Reason += "; the admin-tier ClusterNetworkPolicies could not be read (" + err.Error() + "): policies the evaluator does not see may change these paths"
		return r
	}
	if len(pols) == 0 {
		return r
	}
	var names []string
	for _, p := range pols {
		names = append(names, fmt.Sprintf("%s (%s %d)", p.Name, p.Tier, p.Priority))
		r.Evidence = append(r.Evidence, model.Evidence{Action: "read ClusterNetworkPolicy " + p.Name, Raw: p.String(), Attempts: 1,
			Repro: c.ReproKubectl("get clusternetworkpolicies.policy.networking.k8s.io " + p.Name + " -o yaml")})
	}
	r.Reason += fmt.Sprintf("; %d admin-tier ClusterNetworkPolicy(ies), not evaluated here (the Admin tier decides before these NetworkPolicies, the Baseline tier after; the live check shows what the dataplane did): %s",
		len(pols), strings.Join(names, ", "))
	return r
}
