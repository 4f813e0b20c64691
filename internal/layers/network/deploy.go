package network

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8slabels "k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/tenantcheck/tenantcheck/internal/baseline"
	"github.com/tenantcheck/tenantcheck/internal/kube"
	"github.com/tenantcheck/tenantcheck/internal/layer"
	"github.com/tenantcheck/tenantcheck/internal/par"
	"github.com/tenantcheck/tenantcheck/internal/provision"
	"github.com/tenantcheck/tenantcheck/probes"
)

// Names of the objects the layer creates in each namespace.
const (
	ServerPod     = "tc-probe-server"
	ClientPod     = "tc-probe-client"
	ServiceName   = "tc-probe"
	ContainerName = "probe"
	labelRole     = "tenantcheck.io/probe"
	labelPartOf   = "app.kubernetes.io/part-of"
)

// probePod is a probe agent pod: the restricted pod every layer starts
// from, serving TCP and UDP (and DNS in the outsider, the stand-in
// resolver), with a readiness probe on its port. It must run inside real
// tenants, so it fits the guide's LimitRange and quota.
func probePod(cfg layer.ProbeSettings, labels map[string]string, nonce string, peer Peer, name string, serveDNS bool) *corev1.Pod {
	labels = maps.Clone(labels)
	labels[labelRole] = name
	// Opt out of mesh injection (the label and annotations Istio and Linkerd
	// read): a sidecar would answer connects in the target's place.
	labels["sidecar.istio.io/inject"] = "false"
	if peer.Role == RoleTenant && peer.NoPartOf == "" {
		labels[labelPartOf] = peer.Tenant // what allow-from-shared-ingress selects
	}
	res := kube.SmallResources()
	res.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")}
	pod := kube.RestrictedPod(kube.PodOptions{Namespace: peer.Namespace, Name: name, Image: cfg.Image,
		PullPolicy: corev1.PullPolicy(cfg.PullPolicy), Labels: labels, Container: ContainerName, Resources: &res})
	args := []string{"serve", "--port", strconv.Itoa(probes.ServePort)}
	if nonce != "" {
		args = append(args, "--nonce", nonce)
	}
	if serveDNS {
		args = append(args, "--dns-port", strconv.Itoa(probes.ServeDNSPort))
		// A safe, namespaced sysctl: lets the non-root agent bind port 53.
		pod.Spec.SecurityContext.Sysctls = []corev1.Sysctl{{Name: "net.ipv4.ip_unprivileged_port_start", Value: "0"}}
	}
	// Spread the run's probe pods over the nodes, so that paths between
	// them cross nodes where the cluster has more than one.
	if run, ok := labels[baseline.LabelRun]; ok {
		pod.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
			PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{Weight: 100,
				PodAffinityTerm: corev1.PodAffinityTerm{TopologyKey: "kubernetes.io/hostname", NamespaceSelector: &metav1.LabelSelector{},
					LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{baseline.LabelRun: run}}}}},
		}}
	}
	pod.Annotations = map[string]string{"sidecar.istio.io/inject": "false", "linkerd.io/inject": "disabled"}
	pod.Spec.PriorityClassName = cfg.PriorityClass
	c := &pod.Spec.Containers[0]
	c.Command, c.Args = []string{probes.AgentPath}, args
	c.ReadinessProbe = &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(probes.ServePort)}},
		PeriodSeconds: 1,
	}
	return pod
}

// ownedBy makes the probe Service the pod's controller.
func ownedBy(pod *corev1.Pod, owner *corev1.Service) *corev1.Pod {
	pod.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Service", Name: owner.Name, UID: owner.UID, Controller: ptrTo(true)}}
	return pod
}

// partOfTaken says why a tenant's probe pods must go without
// app.kubernetes.io/part-of=<tenant>, the label the guide's
// allow-from-shared-ingress selects: a Service of the tenant's that would
// then select the probe server (and send it the tenant's traffic). "" when
// none would.
func partOfTaken(ctx context.Context, cs kubernetes.Interface, runLabels map[string]string, peer Peer) (string, error) {
	svcs, err := cs.CoreV1().Services(peer.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", fmt.Errorf("list services in %s: %w", peer.Namespace, err)
	}
	probe := maps.Clone(runLabels)
	probe[labelRole] = ServerPod
	probe["sidecar.istio.io/inject"] = "false"
	probe[labelPartOf] = peer.Tenant
	for _, svc := range svcs.Items {
		if svc.Name == ServiceName || len(svc.Spec.Selector) == 0 {
			continue
		}
		if k8slabels.SelectorFromSet(svc.Spec.Selector).Matches(k8slabels.Set(probe)) {
			return fmt.Sprintf("the probe pods of %s go without %s=%s: Service %s selects on it, and would send its traffic to the probe server",
				peer.Namespace, labelPartOf, peer.Tenant, svc.Name), nil
		}
	}
	return "", nil
}

func probeService(labels map[string]string, peer Peer) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: ServiceName, Namespace: peer.Namespace, Labels: maps.Clone(labels)},
		Spec: corev1.ServiceSpec{
			// Both families where the cluster has two: each ClusterIP is probed.
			IPFamilyPolicy: &preferDualStack,
			Selector:       map[string]string{labelRole: ServerPod},
			Ports: []corev1.ServicePort{
				{Name: "tcp", Protocol: corev1.ProtocolTCP, Port: probes.ServePort, TargetPort: intstr.FromInt32(probes.ServePort)},
				{Name: "udp", Protocol: corev1.ProtocolUDP, Port: probes.ServePort, TargetPort: intstr.FromInt32(probes.ServePort)},
			},
		},
	}
}

// Deploy creates a server and a client pod and a Service in every peer's
// namespace, waits until all are Ready, and fills in the addresses. A
// namespace whose probes cannot be created or never get Ready (a tenant at
// its quota) fails no other: its peer comes back with Unready saying why,
// and every path to or from it is an Error with that reason. Deploy fails
// only when no namespace got its probes.
func Deploy(ctx context.Context, cs kubernetes.Interface, cfg layer.ProbeSettings, labels map[string]string, nonce string, peers []Peer) ([]Peer, error) {
	cfg = cfg.WithDefaults()
	out := make([]Peer, len(peers))
	copy(out, peers)
	// The namespaces every tenant's paths need (outsider, canary, shared)
	// first: a kubelet starts pods about in the order they come, and at 100
	// tenants the last ones were still Pending when the wait gave up.
	order := make([]int, len(out))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return cmp.Compare(boolInt(out[a].Role == RoleTenant), boolInt(out[b].Role == RoleTenant))
	})
	// Namespaces in parallel: one by one, creating 43 pods took 9 s of
	// requests before the kubelet had them all.
	par.Do(len(out), createInFlight, func(k int) {
		i := order[k]
		if why := create(ctx, cs, cfg, labels, nonce, &out[i]); why != "" {
			out[i].Unready = why
		}
	})
	// One node starts about a pod a second when it has 200 to start: the
	// wait grows with the pods, never below ReadyTimeout.
	cfg.ReadyTimeout = max(cfg.ReadyTimeout, time.Duration(2*len(out))*readyPerPod)
	par.Do(len(out), createInFlight, func(k int) {
		i := order[k]
		if out[i].Unready != "" {
			return
		}
		if err := fillIn(ctx, cs, cfg, &out[i]); err != nil {
			out[i].Unready = err.Error()
		}
	})
	ready := 0
	for _, p := range out {
		if p.Unready == "" {
			ready++
		}
	}
	if ready == 0 {
		return nil, errors.New(out[0].Unready)
	}
	return out, nil
}

// readyPerPod is the wait for probe pods Ready, per pod deployed, when
// that is more than ReadyTimeout.
const readyPerPod = 1500 * time.Millisecond

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// createInFlight bounds the namespaces whose probes are created (and
// waited for) at once.
const createInFlight = 8

// create makes one namespace's probe Service and pods; it returns why it
// could not ("" when it did).
func create(ctx context.Context, cs kubernetes.Interface, cfg layer.ProbeSettings, labels map[string]string, nonce string, p *Peer) string {
	if err := provision.WaitServiceAccount(ctx, cs, p.Namespace, 60*time.Second); err != nil {
		return fmt.Sprintf("namespace %s: default service account never appeared: %v", p.Namespace, err)
	}
	if p.Role == RoleTenant {
		why, err := partOfTaken(ctx, cs, labels, *p)
		if err != nil {
			return err.Error()
		}
		p.NoPartOf = why
	}
	if err := provision.Create(ctx, cs, []runtime.Object{probeService(labels, *p)}); err != nil {
		return err.Error()
	}
	// Owned by their Service as controller: no tenant ReplicaSet or
	// other controller whose selector they match can adopt them.
	owner, err := cs.CoreV1().Services(p.Namespace).Get(ctx, ServiceName, metav1.GetOptions{})
	if err != nil {
		return fmt.Sprintf("read service %s/%s: %v", p.Namespace, ServiceName, err)
	}
	objs := []runtime.Object{ownedBy(probePod(cfg, labels, nonce, *p, ServerPod, p.Role == RoleOutsider), owner)}
	if p.Role != RoleCanary {
		objs = append(objs, ownedBy(probePod(cfg, labels, nonce, *p, ClientPod, false), owner))
	}
	if err := provision.Create(ctx, cs, objs); err != nil {
		return err.Error()
	}
	return ""
}

// fillIn waits for a peer's probe pods and reads their and its Service's
// addresses.
func fillIn(ctx context.Context, cs kubernetes.Interface, cfg layer.ProbeSettings, p *Peer) error {
	var err error
	if p.Server, err = waitReady(ctx, cs, p.Namespace, ServerPod, cfg.ReadyTimeout); err != nil {
		return err
	}
	if p.Role != RoleCanary {
		if p.Client, err = waitReady(ctx, cs, p.Namespace, ClientPod, cfg.ReadyTimeout); err != nil {
			return err
		}
	}
	svc, err := cs.CoreV1().Services(p.Namespace).Get(ctx, ServiceName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("read service %s/%s: %w", p.Namespace, ServiceName, err)
	}
	p.ServiceIP = svc.Spec.ClusterIP
	for _, ip := range svc.Spec.ClusterIPs {
		if ip != svc.Spec.ClusterIP {
			p.OtherServiceIPs = append(p.OtherServiceIPs, ip)
		}
	}
	p.ServiceName = fmt.Sprintf("%s.%s.svc.%s.", ServiceName, p.Namespace, cfg.ClusterDomain)
	return nil
}

// waitReady waits for a probe pod's Ready condition and returns its address.
func waitReady(ctx context.Context, cs kubernetes.Interface, ns, name string, timeout time.Duration) (Pod, error) {
	pod, err := kube.WaitPodReady(ctx, cs, ns, name, timeout)
	if err != nil {
		return Pod{}, fmt.Errorf("probe %w", err)
	}
	return podOf(pod), nil
}

var preferDualStack = corev1.IPFamilyPolicyPreferDualStack
