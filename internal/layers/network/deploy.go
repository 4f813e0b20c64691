package network

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

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

// Config holds the layer's knobs; zero values take the defaults.
type Config struct {
	Image         string
	PullPolicy    corev1.PullPolicy
	ClusterDomain string
	ProbeTimeout  time.Duration // one probe (default 1s)
	Retries       int           // extra rounds for paths that disagree (default 2)
	RetryInterval time.Duration // between those rounds (default 500ms)
	ReadyTimeout  time.Duration // probe pods Ready (default 120s)
	Labels        map[string]string
}

// ProbeTimeoutOrDefault is the timeout one probe gets.
func (c Config) ProbeTimeoutOrDefault() time.Duration { return c.withDefaults().ProbeTimeout }

func (c Config) withDefaults() Config {
	if c.ClusterDomain == "" {
		c.ClusterDomain = "cluster.local"
	}
	if c.ProbeTimeout <= 0 {
		c.ProbeTimeout = time.Second
	}
	if c.Retries < 0 {
		c.Retries = 0
	}
	if c.RetryInterval <= 0 {
		c.RetryInterval = 500 * time.Millisecond
	}
	if c.ReadyTimeout <= 0 {
		c.ReadyTimeout = 120 * time.Second
	}
	if c.PullPolicy == "" {
		c.PullPolicy = corev1.PullIfNotPresent
	}
	return c
}

// probePod is a probe agent pod that passes Pod Security "restricted" and
// fits the guide's LimitRange and quota: it must run inside real tenants.
func probePod(cfg Config, peer Peer, name string, serveDNS bool) *corev1.Pod {
	labels := maps.Clone(cfg.Labels)
	labels[labelRole] = name
	if peer.Role == RoleTenant {
		labels[labelPartOf] = peer.Tenant // what allow-from-shared-ingress selects
	}
	args := []string{"serve", "--port", strconv.Itoa(probes.ServePort)}
	var sec *corev1.PodSecurityContext = &corev1.PodSecurityContext{
		RunAsNonRoot: ptr(true), RunAsUser: ptr(int64(65532)), RunAsGroup: ptr(int64(65532)),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	if serveDNS {
		args = append(args, "--dns-port", strconv.Itoa(probes.ServeDNSPort))
		// A safe, namespaced sysctl: lets the non-root agent bind port 53.
		sec.Sysctls = []corev1.Sysctl{{Name: "net.ipv4.ip_unprivileged_port_start", Value: "0"}}
	}
	res := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")}
	lim := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: peer.Namespace, Labels: labels},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken:  ptr(false),
			TerminationGracePeriodSeconds: ptr(int64(0)),
			EnableServiceLinks:            ptr(false),
			SecurityContext:               sec,
			Containers: []corev1.Container{{
				Name: ContainerName, Image: cfg.Image, ImagePullPolicy: cfg.PullPolicy,
				Command: []string{probes.AgentPath}, Args: args,
				Resources: corev1.ResourceRequirements{Requests: res, Limits: lim},
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr(false), ReadOnlyRootFilesystem: ptr(true),
					Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(probes.ServePort)}},
					PeriodSeconds: 1,
				},
			}},
		},
	}
}

func probeService(cfg Config, peer Peer) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: ServiceName, Namespace: peer.Namespace, Labels: maps.Clone(cfg.Labels)},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{labelRole: ServerPod},
			Ports: []corev1.ServicePort{
				{Name: "tcp", Protocol: corev1.ProtocolTCP, Port: probes.ServePort, TargetPort: intstr.FromInt32(probes.ServePort)},
				{Name: "udp", Protocol: corev1.ProtocolUDP, Port: probes.ServePort, TargetPort: intstr.FromInt32(probes.ServePort)},
			},
		},
	}
}

// Deploy creates a server and a client pod and a Service in every peer's
// namespace, waits until all are Ready, and fills in the addresses.
func Deploy(ctx context.Context, cs kubernetes.Interface, cfg Config, peers []Peer) ([]Peer, error) {
	cfg = cfg.withDefaults()
	var objs []runtime.Object
	for _, p := range peers {
		if err := provision.WaitServiceAccount(ctx, cs, p.Namespace, 60*time.Second); err != nil {
			return nil, fmt.Errorf("namespace %s: default service account never appeared: %w", p.Namespace, err)
		}
		objs = append(objs, probeService(cfg, p), probePod(cfg, p, ServerPod, p.Role == RoleOutsider))
		if p.Role != RoleCanary {
			objs = append(objs, probePod(cfg, p, ClientPod, false))
		}
	}
	if err := provision.Create(ctx, cs, objs); err != nil {
		return nil, err
	}
	out := make([]Peer, len(peers))
	for i, p := range peers {
		var err error
		if p.Server, err = waitReady(ctx, cs, p.Namespace, ServerPod, cfg.ReadyTimeout); err != nil {
			return nil, err
		}
		if p.Role != RoleCanary {
			if p.Client, err = waitReady(ctx, cs, p.Namespace, ClientPod, cfg.ReadyTimeout); err != nil {
				return nil, err
			}
		}
		svc, err := cs.CoreV1().Services(p.Namespace).Get(ctx, ServiceName, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("read service %s/%s: %w", p.Namespace, ServiceName, err)
		}
		p.ServiceIP = svc.Spec.ClusterIP
		p.ServiceName = fmt.Sprintf("%s.%s.svc.%s.", ServiceName, p.Namespace, cfg.ClusterDomain)
		out[i] = p
	}
	return out, nil
}

// waitReady waits for a pod's Ready condition and returns its address. A
// pod that cannot start (image missing, rejected by quota) fails at once
// with the reason, not after the timeout.
func waitReady(ctx context.Context, cs kubernetes.Interface, ns, name string, timeout time.Duration) (Pod, error) {
	var pod *corev1.Pod
	var why string
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			why = err.Error()
			return false, nil
		}
		pod = p
		why = notReadyReason(p)
		for _, cs := range p.Status.ContainerStatuses {
			if w := cs.State.Waiting; w != nil && (w.Reason == "ErrImageNeverPull" || w.Reason == "ImagePullBackOff" || w.Reason == "ErrImagePull" || w.Reason == "InvalidImageName") {
				return false, fmt.Errorf("%s: %s", w.Reason, w.Message)
			}
		}
		return why == "", nil
	})
	if err != nil {
		return Pod{}, fmt.Errorf("probe pod %s/%s not Ready: %s (%w)", ns, name, why, err)
	}
	return Pod{Namespace: ns, Name: name, IP: pod.Status.PodIP}, nil
}

func notReadyReason(p *corev1.Pod) string {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			if c.Status == corev1.ConditionTrue && p.Status.PodIP != "" {
				return ""
			}
			if c.Message != "" {
				return c.Message
			}
		}
	}
	return "phase " + string(p.Status.Phase)
}

func ptr[T any](v T) *T { return &v }
