package kube

import (
	"context"
	"fmt"
	"maps"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// PodOptions name the parts of a probe pod that differ between layers.
type PodOptions struct {
	Namespace, Name string
	Image           string
	// PullPolicy: empty means Never, right for dry-run pods that never start.
	PullPolicy corev1.PullPolicy
	// Labels are copied; nil is none.
	Labels map[string]string
	// Container is the container's name (default "probe").
	Container string
	// Resources of the container; nil means 10m CPU and 16Mi memory as both
	// request and limit, which fits the guide's LimitRange and quota.
	Resources *corev1.ResourceRequirements
	// NoResources leaves the container without requests and limits (to see
	// what a LimitRange fills in).
	NoResources bool
}

// SmallResources is what a probe pod asks for unless told otherwise.
func SmallResources() corev1.ResourceRequirements {
	rl := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")}
	return corev1.ResourceRequirements{Requests: rl, Limits: rl.DeepCopy()}
}

// RestrictedPod is the one pod shape every layer starts from: it passes Pod
// Security "restricted" (non-root, no privilege escalation, every capability
// dropped, RuntimeDefault seccomp, read-only root), mounts no token, and
// goes at once when deleted. A layer then adds its command, probes and
// volumes, or (Pod Security) breaks exactly one of these settings.
func RestrictedPod(o PodOptions) *corev1.Pod {
	if o.Container == "" {
		o.Container = "probe"
	}
	if o.PullPolicy == "" {
		o.PullPolicy = corev1.PullNever
	}
	res := SmallResources()
	if o.Resources != nil {
		res = *o.Resources.DeepCopy()
	}
	if o.NoResources {
		res = corev1.ResourceRequirements{}
	}
	var labels map[string]string
	if o.Labels != nil {
		labels = maps.Clone(o.Labels)
	}
	return &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: o.Name, Namespace: o.Namespace, Labels: labels},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken:  ptr(false),
			TerminationGracePeriodSeconds: ptr(int64(0)),
			EnableServiceLinks:            ptr(false),
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot: ptr(true), RunAsUser: ptr(int64(65532)), RunAsGroup: ptr(int64(65532)),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{
				Name: o.Container, Image: o.Image, ImagePullPolicy: o.PullPolicy,
				Resources: res,
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr(false), ReadOnlyRootFilesystem: ptr(true),
					Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
			}},
		},
	}
}

// WaitPodReady waits for a pod's Ready condition and an IP, and returns the
// pod. A pod that cannot start (image missing or not allowed to be pulled)
// fails at once with the kubelet's reason, not after the timeout; the error
// names the pod and its last state.
func WaitPodReady(ctx context.Context, cs kubernetes.Interface, ns, name string, timeout time.Duration) (*corev1.Pod, error) {
	var pod *corev1.Pod
	why := "not found yet"
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			why = err.Error()
			return false, nil
		}
		pod = p
		why = NotReadyReason(p)
		for _, c := range p.Status.ContainerStatuses {
			if w := c.State.Waiting; w != nil && imageFailure[w.Reason] {
				return false, fmt.Errorf("%s: %s", w.Reason, w.Message)
			}
		}
		return why == "", nil
	})
	if err != nil {
		return nil, fmt.Errorf("pod %s/%s not Ready: %s (%w)", ns, name, why, err)
	}
	return pod, nil
}

var imageFailure = map[string]bool{"ErrImageNeverPull": true, "ImagePullBackOff": true, "ErrImagePull": true, "InvalidImageName": true}

// NotReadyReason says why a pod is not Ready with an IP; "" when it is.
func NotReadyReason(p *corev1.Pod) string {
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
	s := "phase " + string(p.Status.Phase)
	for _, c := range p.Status.ContainerStatuses {
		if w := c.State.Waiting; w != nil {
			s += ": " + w.Reason + " " + w.Message
		}
	}
	return s
}

func ptr[T any](v T) *T { return &v }
