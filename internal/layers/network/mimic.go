package network

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/tenantcheck/tenantcheck/internal/kube"
	"github.com/tenantcheck/tenantcheck/internal/layer"
	"github.com/tenantcheck/tenantcheck/internal/netpol"
	"github.com/tenantcheck/tenantcheck/internal/provision"
	"github.com/tenantcheck/tenantcheck/probes"
)

// A mimic is a probe pod that stands, to every NetworkPolicy, for one
// workload shape of a tenant: it carries the workload's labels (and no
// label of tenantcheck's, so that no policy can tell it apart) and listens
// on the workload's real ports, declared with their names so that named
// ports resolve as for the workload. Three things keep it out of the
// tenant's way:
//   - a readiness gate nothing ever sets (NeverReady): it is never Ready, so
//     no Service routes traffic to it (an EndpointSlice lists it not ready);
//     a Service that publishes not-ready addresses would, so one label that
//     such a Service selects on and no policy reads is left out;
//   - a controller ownerReference to tenantcheck's own probe Service in the
//     namespace: a ReplicaSet adopts only pods without a controller, and the
//     garbage collector deletes the mimic with that Service (a killed run);
//   - tenantcheck's marks (the run's labels) are annotations, which no
//     policy can select on; cleanup finds mimics by them.
//
// Mimic 0 of a namespace has no labels and no ports: a new pod without
// labels, which any tenant can start at any time, as a source. The run's
// namespace of no tenant (the outsider) and the shared namespaces get one
// too.

// Mimic names and marks.
const (
	mimicPrefix = "tc-mimic-"
	// NeverReady is the readiness gate of every mimic.
	NeverReady = "tenantcheck.io/never-ready"
	// AnnotationMimicOf holds the shape a mimic stands for.
	AnnotationMimicOf = "tenantcheck.io/mimic-of"
	// DefaultMaxShapes and MaxShapesCeiling bound the shapes mimicked per
	// namespace; the ceiling fixes the pod names exec may be granted on.
	DefaultMaxShapes = 8
	MaxShapesCeiling = 16
)

// MimicName is the name of mimic i of a namespace.
func MimicName(i int) string { return mimicPrefix + strconv.Itoa(i) }

// MimicNames are every name a mimic may have: what the exec permission
// names.
func MimicNames() []string {
	out := make([]string, MaxShapesCeiling+1)
	for i := range out {
		out[i] = MimicName(i)
	}
	return out
}

// Mimic is one deployed mimic.
type Mimic struct {
	Peer  Peer
	Shape netpol.Shape
	// Labels are what the mimic carries: the shape's, minus Omitted.
	Labels  map[string]string
	Omitted []string
	Pod     Pod
}

// Blank: the mimic of a new pod without labels (a source only).
func (m Mimic) Blank() bool { return len(m.Shape.Labels) == 0 && len(m.Shape.Ports) == 0 }

// Display names the workload the mimic stands for.
func (m Mimic) Display() string {
	if m.Blank() {
		return m.Peer.Namespace + "/(a new pod without labels)"
	}
	s := fmt.Sprintf("%s/{%s}", m.Peer.Namespace, labels.Set(m.Shape.Labels).String())
	if len(m.Omitted) > 0 {
		s += " (mimicked without " + strings.Join(m.Omitted, ",") + ")"
	}
	return s
}

// netpolPod is the mimic as the policy evaluator sees it.
func (m Mimic) netpolPod(nsLabels map[string]string) *netpol.Pod {
	return &netpol.Pod{Namespace: m.Peer.Namespace, NamespaceLabels: nsLabels, Labels: m.Labels, IP: m.Pod.IP, Ports: m.Shape.Ports}
}

// plannedMimic is a mimic to create.
type plannedMimic struct {
	shape   netpol.Shape
	labels  map[string]string
	omitted []string
}

// planMimics picks the shapes of a namespace to mimic: the blank source,
// then the tested shapes. A shape that a Service publishing not-ready
// addresses selects is mimicked without one of that Service's selector
// labels that no policy reads; when every such label is read by a policy,
// it is not mimicked (skipped says why).
func planMimics(s tenantSpace, policyKeys map[string]bool) (plan []plannedMimic, skipped []string) {
	plan = append(plan, plannedMimic{shape: netpol.Shape{Namespace: s.Namespace, Labels: map[string]string{}}, labels: map[string]string{}})
	for _, sh := range s.Shapes {
		m := plannedMimic{shape: sh, labels: maps.Clone(sh.Labels)}
		ok := true
		for _, svc := range s.Services {
			if !svc.Spec.PublishNotReadyAddresses || len(svc.Spec.Selector) == 0 ||
				!labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(m.labels)) {
				continue
			}
			keys := slices.Sorted(maps.Keys(svc.Spec.Selector))
			i := slices.IndexFunc(keys, func(k string) bool { return !policyKeys[k] })
			if i < 0 {
				skipped = append(skipped, fmt.Sprintf("%s: Service %s publishes not-ready addresses and selects only on labels NetworkPolicies read, so a mimic would receive its traffic",
					describeShape(sh), svc.Name))
				ok = false
				break
			}
			delete(m.labels, keys[i])
			m.omitted = append(m.omitted, keys[i])
		}
		if ok {
			plan = append(plan, m)
		}
	}
	return plan, skipped
}

// mimicPod builds mimic i of peer's namespace, owned by the probe Service.
func mimicPod(cfg layer.ProbeSettings, runLabels map[string]string, nonce string, peer Peer, i int, m plannedMimic, owner *corev1.Service) *corev1.Pod {
	res := kube.SmallResources()
	res.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")}
	pod := kube.RestrictedPod(kube.PodOptions{Namespace: peer.Namespace, Name: MimicName(i), Image: cfg.Image,
		PullPolicy: corev1.PullPolicy(cfg.PullPolicy), Labels: m.labels, Container: ContainerName, Resources: &res})
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Annotations = maps.Clone(runLabels)
	pod.Annotations[AnnotationMimicOf] = m.shape.Key()
	pod.Annotations["sidecar.istio.io/inject"] = "false"
	pod.Annotations["linkerd.io/inject"] = "disabled"
	pod.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Service", Name: owner.Name, UID: owner.UID, Controller: ptrTo(true)}}
	pod.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: NeverReady}}
	pod.Spec.PriorityClassName = cfg.PriorityClass
	// A safe, namespaced sysctl: the non-root agent may bind a port below 1024.
	pod.Spec.SecurityContext.Sysctls = []corev1.Sysctl{{Name: "net.ipv4.ip_unprivileged_port_start", Value: "0"}}
	args := []string{"serve", "--port", "0"}
	if nonce != "" {
		args = append(args, "--nonce", nonce)
	}
	c := &pod.Spec.Containers[0]
	for _, p := range m.shape.Ports {
		c.Ports = append(c.Ports, corev1.ContainerPort{Name: p.Name, ContainerPort: p.ContainerPort, Protocol: p.Protocol})
		args = append(args, "--listen", fmt.Sprintf("%d/%s", p.ContainerPort, strings.ToLower(string(p.Protocol))))
	}
	c.Command, c.Args = []string{probes.AgentPath}, args
	return pod
}

func ptrTo[T any](v T) *T { return &v }

// deployMimics creates the mimics of every tenant namespace that runs
// workloads and waits until each runs with an address. A mimic that cannot
// be created or never starts (a tenant at its quota) is no failure of the
// run: notMimicked says which shapes went untested live, and why.
func deployMimics(ctx context.Context, cs kubernetes.Interface, cfg layer.ProbeSettings, runLabels map[string]string, nonce string,
	peers []Peer, inv *inventory) (mimics []Mimic, notMimicked []string) {
	keys := inv.policyKeys()
	type pending struct {
		peer Peer
		m    plannedMimic
		name string
	}
	var todo []pending
	for _, s := range inv.Tenants {
		if len(s.Shapes) == 0 {
			continue // nothing to reach; its blank source adds nothing the client does not
		}
		i := slices.IndexFunc(peers, func(p Peer) bool { return p.Namespace == s.Namespace })
		if i < 0 {
			continue
		}
		peer := peers[i]
		if peer.Unready != "" {
			notMimicked = append(notMimicked, fmt.Sprintf("%s: no mimic, the namespace's probes do not run", peer.Namespace))
			continue
		}
		plan, skipped := planMimics(s, keys)
		notMimicked = append(notMimicked, skipped...)
		owner, err := cs.CoreV1().Services(peer.Namespace).Get(ctx, ServiceName, metav1.GetOptions{})
		if err != nil {
			notMimicked = append(notMimicked, fmt.Sprintf("%s: no mimic, its owner Service could not be read: %v", peer.Namespace, err))
			continue
		}
		for k, m := range plan {
			pod := mimicPod(cfg, runLabels, nonce, peer, k, m, owner)
			if err := provision.Create(ctx, cs, []runtime.Object{pod}); err != nil {
				notMimicked = append(notMimicked, fmt.Sprintf("%s: mimic not created: %v", describeShape(m.shape), err))
				continue
			}
			todo = append(todo, pending{peer: peer, m: m, name: pod.Name})
		}
	}
	// A namespace of no tenant and every shared namespace start a new pod
	// without labels too: a policy written around tenantcheck's labels
	// cannot tell it from any pod there.
	for _, peer := range peers {
		if len(todo) == 0 || peer.Unready != "" || (peer.Role != RoleOutsider && peer.Role != RoleShared) {
			continue
		}
		blank := plannedMimic{shape: netpol.Shape{Namespace: peer.Namespace, Labels: map[string]string{}}, labels: map[string]string{}}
		owner, err := cs.CoreV1().Services(peer.Namespace).Get(ctx, ServiceName, metav1.GetOptions{})
		if err == nil {
			err = provision.Create(ctx, cs, []runtime.Object{mimicPod(cfg, runLabels, nonce, peer, 0, blank, owner)})
		}
		if err != nil {
			notMimicked = append(notMimicked, fmt.Sprintf("%s: no pod without labels: %v", peer.Namespace, err))
			continue
		}
		todo = append(todo, pending{peer: peer, m: blank, name: MimicName(0)})
	}
	for _, p := range todo {
		pod, err := waitMimic(ctx, cs, p.peer.Namespace, p.name, cfg.ReadyTimeout)
		if err != nil {
			notMimicked = append(notMimicked, fmt.Sprintf("%s: %v", describeShape(p.m.shape), err))
			continue
		}
		mimics = append(mimics, Mimic{Peer: p.peer, Shape: p.m.shape, Labels: p.m.labels, Omitted: p.m.omitted, Pod: pod})
	}
	return mimics, notMimicked
}

// waitMimic waits until a mimic's containers are ready (its agent runs)
// and it has an address; the pod itself never turns Ready.
func waitMimic(ctx context.Context, cs kubernetes.Interface, ns, name string, timeout time.Duration) (Pod, error) {
	var last *corev1.Pod
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = p
		if p.Status.PodIP == "" {
			return false, nil
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.ContainersReady && c.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		why := "not found"
		if last != nil {
			why = "phase " + string(last.Status.Phase)
			for _, c := range last.Status.ContainerStatuses {
				if w := c.State.Waiting; w != nil {
					why += ", " + w.Reason
				}
			}
		}
		return Pod{}, fmt.Errorf("mimic %s/%s never ran (%s)", ns, name, why)
	}
	return podOf(last), nil
}

// podOf is a pod's address as the layer keeps it.
func podOf(p *corev1.Pod) Pod {
	out := Pod{Namespace: p.Namespace, Name: p.Name, IP: p.Status.PodIP, Node: p.Spec.NodeName, Labels: p.Labels}
	for _, ip := range p.Status.PodIPs {
		if ip.IP != p.Status.PodIP {
			out.OtherIPs = append(out.OtherIPs, ip.IP)
		}
	}
	return out
}
