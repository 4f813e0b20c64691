package network

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/tenantcheck/tenantcheck/internal/kube"
	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/internal/netpol"
)

// The static checks read the tenants' own workloads and NetworkPolicies and
// ask, with the policy evaluator, whether policy alone lets any workload of
// one tenant reach a real port of another's. They explain what the probes
// prove: which policy opens a path, for which workload and port.

var staticCheck = model.Check{ID: "network/policy-blocks-cross-tenant", Layer: model.LayerNetwork,
	Name: "policy blocks every cross-tenant path (static)",
	Description: "for every workload shape of every tenant (its pods' labels and ports) and a new pod with no labels, " +
		"the tenants' NetworkPolicies allow no connection to a port a workload of another tenant serves",
	Expected: model.ExpectReach(model.ReachBlocked)}

var gamedCheck = model.Check{ID: "network/policy-ignores-tenantcheck", Layer: model.LayerNetwork,
	Name:        "no policy selects on tenantcheck's labels",
	Description: "no NetworkPolicy of a tenant selects pods or namespaces by tenantcheck's own labels: one that does could treat the probes unlike the tenant's workloads",
	Expected:    model.ExpectReach(model.ReachBlocked)}

// maxReasonLines bounds the paths a Broken reason lists; the evidence has all.
const maxReasonLines = 10

// staticPermissions are what the static checks read.
var staticPermissions = []kube.Permission{
	{Verb: "list", Resource: "pods"},
	{Verb: "list", Resource: "services"},
	{Verb: "list", Group: "networking.k8s.io", Resource: "networkpolicies"},
	adminPermission,
}

// tenantSpace is one tenant namespace as the static checks see it.
type tenantSpace struct {
	Tenant, Namespace string
	Labels            map[string]string
	Shapes            []netpol.Shape
	Untested          []netpol.Shape
	Services          []corev1.Service
	// AllowedTo: for a shared namespace, the tenants it may reach.
	AllowedTo []string
	// Peer is the roster's member.
	Peer Peer
}

// inventory is what the tenants run and the policies that govern it, read
// before any probe pod exists: the static checks judge it, and the mimics
// copy its workload shapes.
type inventory struct {
	Tenants []tenantSpace
	// Shared are the shared namespaces: sources that must not reach the
	// tenants they are not allowed to.
	Shared   []tenantSpace
	Policies []networkingv1.NetworkPolicy
	// NamespaceLabels of every namespace read (tenants' and shared ones).
	NamespaceLabels map[string]map[string]string
	MaxShapes       int
	// Admin are the cluster's admin-tier ClusterNetworkPolicies (where
	// served), listed beside the static check; AdminErr says why they could
	// not be read.
	Admin    []AdminPolicy
	AdminErr error
}

// readInventory reads every tenant namespace's pods, Services, policies and
// labels, and every shared namespace's policies and labels (their egress
// decides what a shared namespace reaches).
func readInventory(ctx context.Context, c *kube.Client, peers []Peer, maxShapes int) (*inventory, error) {
	inv := &inventory{NamespaceLabels: map[string]map[string]string{}, MaxShapes: maxShapes}
	for _, p := range peers {
		if p.Role != model.RoleTenant && p.Role != model.RoleShared {
			continue
		}
		s, pols, err := readSpace(ctx, c, p, maxShapes)
		if err != nil {
			return nil, err
		}
		inv.NamespaceLabels[p.Namespace] = s.Labels
		inv.Policies = append(inv.Policies, pols...)
		if p.Role == model.RoleTenant {
			inv.Tenants = append(inv.Tenants, s)
		} else {
			s.AllowedTo = p.AllowedTo
			inv.Shared = append(inv.Shared, s)
		}
	}
	inv.Admin, _, inv.AdminErr = readAdminPolicies(ctx, c)
	return inv, nil
}

// shapes counts the tenants' workload shapes that are tested.
func (inv *inventory) shapes() int {
	n := 0
	for _, s := range inv.Tenants {
		n += len(s.Shapes)
	}
	return n
}

// policyKeys are the label keys any policy selects pods or namespaces on.
func (inv *inventory) policyKeys() map[string]bool {
	out := map[string]bool{}
	for _, p := range inv.Policies {
		for _, k := range policySelectorKeys(p) {
			out[k] = true
		}
	}
	return out
}

func staticResults(c *kube.Client, inv *inventory, err error) ([]model.Result, []model.WorkloadPath) {
	if err != nil {
		j := model.Errored(err.Error())
		return []model.Result{staticCheck.Result(j), gamedCheck.Result(j)}, nil
	}
	var tenantPolicies []networkingv1.NetworkPolicy
	for _, p := range inv.Policies {
		if slices.ContainsFunc(inv.Tenants, func(s tenantSpace) bool { return s.Namespace == p.Namespace }) {
			tenantPolicies = append(tenantPolicies, p)
		}
	}
	static, open := judgeStatic(c, inv.Tenants, inv.Shared, inv.Policies, inv.MaxShapes)
	static = withAdminPolicies(c, static, inv.Admin, inv.AdminErr)
	return []model.Result{static, judgeGamed(c, tenantPolicies)}, open
}

func readSpace(ctx context.Context, c *kube.Client, p Peer, maxShapes int) (tenantSpace, []networkingv1.NetworkPolicy, error) {
	ns := p.Namespace
	s := tenantSpace{Tenant: p.Tenant, Namespace: ns, Peer: p}
	n, err := c.Clientset.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		return s, nil, kube.Explain(err, "read namespace "+ns)
	}
	s.Labels = n.Labels
	pols, err := c.Clientset.NetworkingV1().NetworkPolicies(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return s, nil, kube.Explain(err, "list networkpolicies in "+ns)
	}
	if p.Role != model.RoleTenant {
		return s, pols.Items, nil
	}
	pods, err := c.Clientset.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return s, nil, kube.Explain(err, "list pods in "+ns)
	}
	svcs, err := c.Clientset.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return s, nil, kube.Explain(err, "list services in "+ns)
	}
	s.Services = svcs.Items
	s.Shapes, s.Untested = netpol.Bound(netpol.Shapes(ns, pods.Items, svcs.Items), maxShapes)
	return s, pols.Items, nil
}

// outsiderSpace stands for every namespace of no tenant (no labels, no
// policy): the guide denies them every tenant, as it denies other tenants.
var outsiderSpace = tenantSpace{Tenant: "", Namespace: noTenant}

// source is one way a tenant's traffic starts: a workload shape, or a new
// pod with no labels (what any tenant can start at any time).
type source struct {
	name string
	pod  *netpol.Pod
}

func sources(s tenantSpace) []source {
	out := []source{{name: s.Namespace + "/(a new pod without labels)",
		pod: &netpol.Pod{Namespace: s.Namespace, NamespaceLabels: s.Labels, Labels: map[string]string{}}}}
	for _, sh := range s.Shapes {
		out = append(out, source{name: describeShape(sh), pod: shapePod(s, sh)})
	}
	return out
}

func shapePod(s tenantSpace, sh netpol.Shape) *netpol.Pod {
	return &netpol.Pod{Namespace: s.Namespace, NamespaceLabels: s.Labels, Labels: sh.Labels, Ports: sh.Ports}
}

func describeShape(sh netpol.Shape) string {
	return fmt.Sprintf("%s/{%s} (%d pod(s), e.g. %s)", sh.Namespace, labels.Set(sh.Labels).String(), sh.Pods, sh.Example)
}

// judgeStatic evaluates every (source, port of a workload of tenant B)
// pair, the sources being tenant A's (A != B), a namespace of no tenant's
// and those of the shared namespaces not allowed to B (or allowed, for a
// port B does not declare among its ingress ports).
func judgeStatic(c *kube.Client, spaces, shared []tenantSpace, policies []networkingv1.NetworkPolicy, maxShapes int) (model.Result, []model.WorkloadPath) {
	var open []string
	var paths []model.WorkloadPath
	var ev []model.Evidence
	var untested []string
	npaths, targets := 0, 0
	for _, b := range spaces {
		targets += len(b.Shapes)
		for _, u := range b.Untested {
			untested = append(untested, describeShape(u))
		}
		for _, tb := range b.Shapes {
			dest := shapePod(b, tb)
			for _, port := range tb.Ports {
				for _, a := range slices.Concat(spaces, []tenantSpace{outsiderSpace}, shared) {
					if (a.Tenant != "" && a.Tenant == b.Tenant) || (slices.Contains(a.AllowedTo, b.Tenant) && ingressPort(b.Peer, port)) {
						continue
					}
					for _, src := range sources(a) {
						npaths++
						v := netpol.Evaluate(policies, netpol.Connection{From: netpol.Peer{Pod: src.pod}, To: netpol.Peer{Pod: dest},
							Port: port.ContainerPort, Protocol: port.Protocol})
						if !v.Allowed() {
							continue
						}
						line := fmt.Sprintf("%s -> %s port %d/%s: %s", src.name, describeShape(tb), port.ContainerPort, port.Protocol, why(v, b.Namespace, a.Namespace))
						open = append(open, line)
						paths = append(paths, model.WorkloadPath{From: shapeName(a.Namespace, src.pod.Labels), FromTenant: a.Tenant,
							To: shapeName(b.Namespace, tb.Labels), ToTenant: b.Tenant, Port: int(port.ContainerPort),
							Protocol: model.Protocol(port.Protocol), Intended: model.ReachBlocked, Policy: model.ReachAllowed,
							PolicyWhy: why(v, b.Namespace, a.Namespace)})
						ev = append(ev, model.Evidence{Action: "evaluate the NetworkPolicies for this path", From: a.Namespace, To: b.Namespace,
							Raw: line, Attempts: 1, Repro: c.ReproKubectl(fmt.Sprintf("get networkpolicy -n %s -o yaml; %s get networkpolicy -n %s -o yaml", b.Namespace, c.Kubectl(), a.Namespace))})
					}
				}
			}
		}
	}
	var j model.Judgement
	switch {
	case len(open) > 0:
		shown := open
		if len(shown) > maxReasonLines {
			shown = append(shown[:maxReasonLines:maxReasonLines], fmt.Sprintf("and %d more (see the evidence)", len(open)-maxReasonLines))
		}
		j = model.Broken(strings.Join(shown, "; "))
	case targets == 0:
		j = model.Skipped("no workload in the tenant namespaces serves a port to evaluate (a provisioned run's tenants hold only tenantcheck's probes)")
	default:
		j = model.Held(fmt.Sprintf("policy blocks all %d cross-tenant paths to %d workload shape(s)", npaths, targets))
	}
	if len(untested) > 0 && j.Verdict != model.VerdictSkipped {
		j.Reason += fmt.Sprintf("; not evaluated (over %d shapes per namespace): %s", maxShapes, strings.Join(untested, ", "))
	}
	r := staticCheck.Result(j)
	r.Expected = "no cross-tenant path allowed by policy"
	r.Observed = fmt.Sprintf("%d of %d paths allowed", len(open), npaths)
	r.Evidence, r.Attempts = ev, npaths
	return r, paths
}

// why names what lets a path through on each side.
func why(v netpol.Verdict, to, from string) string {
	side := func(d netpol.Direction, dir, ns string) string {
		if !d.Isolated {
			return fmt.Sprintf("no %s policy in %s selects the pod", dir, ns)
		}
		return fmt.Sprintf("%s allowed by %s", dir, strings.Join(d.AllowedBy, ", "))
	}
	return side(v.Ingress, "ingress", to) + "; " + side(v.Egress, "egress", from)
}

// selfLabels are tenantcheck's own label keys.
func selfLabel(key string) bool {
	return strings.HasPrefix(key, "tenantcheck.io/") || key == "app.kubernetes.io/managed-by"
}

func judgeGamed(c *kube.Client, policies []networkingv1.NetworkPolicy) model.Result {
	var found []string
	var ev []model.Evidence
	for _, p := range policies {
		for _, k := range policySelectorKeys(p) {
			if !selfLabel(k) {
				continue
			}
			line := fmt.Sprintf("NetworkPolicy %s/%s selects on %s", p.Namespace, p.Name, k)
			found = append(found, line)
			ev = append(ev, model.Evidence{Action: "read NetworkPolicy " + p.Name, To: p.Namespace, Raw: line, Attempts: 1,
				Repro: c.ReproKubectl(fmt.Sprintf("get networkpolicy %s -n %s -o yaml", p.Name, p.Namespace))})
			break
		}
	}
	j := model.Held(fmt.Sprintf("none of %d policies selects on tenantcheck's labels", len(policies)))
	if len(found) > 0 {
		j = model.Broken(strings.Join(found, "; ") + ": tenantcheck's probes would be judged unlike the tenant's pods")
	}
	r := gamedCheck.Result(j)
	r.Expected, r.Observed, r.Evidence = "no policy selects on tenantcheck's labels", fmt.Sprintf("%d found", len(found)), ev
	return r
}

// policySelectorKeys are the label keys a policy selects pods or namespaces on.
func policySelectorKeys(p networkingv1.NetworkPolicy) []string {
	keys := selectorKeys(&p.Spec.PodSelector)
	for _, r := range p.Spec.Ingress {
		keys = append(keys, peerKeys(r.From)...)
	}
	for _, r := range p.Spec.Egress {
		keys = append(keys, peerKeys(r.To)...)
	}
	return keys
}

func peerKeys(peers []networkingv1.NetworkPolicyPeer) []string {
	var out []string
	for _, p := range peers {
		out = append(out, selectorKeys(p.PodSelector)...)
		out = append(out, selectorKeys(p.NamespaceSelector)...)
	}
	return out
}

func selectorKeys(s *metav1.LabelSelector) []string {
	if s == nil {
		return nil
	}
	var out []string
	for k := range s.MatchLabels {
		out = append(out, k)
	}
	for _, e := range s.MatchExpressions {
		out = append(out, e.Key)
	}
	return out
}
