// Package podsecurity is the Pod Security layer: in each tenant namespace it
// submits one pod per violation class with server-side dry-run (nothing is
// persisted) and compares what the API server did with the namespace's
// declared enforce level.
package podsecurity

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/tenantcheck/tenantcheck/internal/model"
)

// Level is a Pod Security Standard level, ordered privileged < baseline < restricted.
type Level string

const (
	Privileged Level = "privileged"
	Baseline   Level = "baseline"
	Restricted Level = "restricted"
)

func (l Level) rank() int {
	switch l {
	case Baseline:
		return 1
	case Restricted:
		return 2
	}
	return 0
}

// Check is one violation class: the lowest level that forbids it and how to
// turn a compliant pod into an offender. Adding a class is one entry in Checks.
type Check struct {
	model.Check
	ForbiddenFrom Level
	Mutate        func(p *corev1.Pod)
}

func class(id, name string, from Level, mutate func(p *corev1.Pod)) Check {
	return Check{
		Check: model.Check{ID: "podsecurity/" + id, Layer: model.LayerPodSecurity, Name: name,
			Description: "a pod with " + name + " is rejected where the namespace enforces " + string(from) + " or stricter",
			Expected:    model.ExpectAPI(model.APIRejected)},
		ForbiddenFrom: from, Mutate: mutate,
	}
}

func ctr(p *corev1.Pod) *corev1.Container { return &p.Spec.Containers[0] }

// Checks are the violation classes, in report order.
var Checks = []Check{
	class("privileged", "privileged: true", Baseline, func(p *corev1.Pod) {
		ctr(p).SecurityContext.Privileged = ptr(true)
		ctr(p).SecurityContext.AllowPrivilegeEscalation = nil // privileged implies it; false is invalid
	}),
	class("host-network", "hostNetwork", Baseline, func(p *corev1.Pod) { p.Spec.HostNetwork = true }),
	class("host-pid", "hostPID", Baseline, func(p *corev1.Pod) { p.Spec.HostPID = true }),
	class("host-ipc", "hostIPC", Baseline, func(p *corev1.Pod) { p.Spec.HostIPC = true }),
	class("host-path", "a hostPath volume", Baseline, func(p *corev1.Pod) {
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}})
	}),
	class("host-port", "a hostPort", Baseline, func(p *corev1.Pod) {
		ctr(p).Ports = []corev1.ContainerPort{{ContainerPort: 8080, HostPort: 8080}}
	}),
	class("cap-net-raw", "capability NET_RAW added", Baseline, func(p *corev1.Pod) {
		ctr(p).SecurityContext.Capabilities.Add = []corev1.Capability{"NET_RAW"}
	}),
	class("cap-sys-admin", "capability SYS_ADMIN added", Baseline, func(p *corev1.Pod) {
		ctr(p).SecurityContext.Capabilities.Add = []corev1.Capability{"SYS_ADMIN"}
	}),
	class("seccomp-unconfined", "seccomp Unconfined", Baseline, func(p *corev1.Pod) {
		p.Spec.SecurityContext.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}
	}),
	class("unsafe-sysctl", "an unsafe sysctl (kernel.msgmax)", Baseline, func(p *corev1.Pod) {
		p.Spec.SecurityContext.Sysctls = []corev1.Sysctl{{Name: "kernel.msgmax", Value: "65536"}}
	}),
	class("privilege-escalation", "allowPrivilegeEscalation: true", Restricted, func(p *corev1.Pod) {
		ctr(p).SecurityContext.AllowPrivilegeEscalation = ptr(true)
	}),
	class("run-as-root", "runAsUser 0 and no runAsNonRoot", Restricted, func(p *corev1.Pod) {
		p.Spec.SecurityContext.RunAsNonRoot = nil
		p.Spec.SecurityContext.RunAsUser = ptr(int64(0))
	}),
}

// compliantCheck is the positive control: a pod that satisfies "restricted"
// must be admitted, or every "rejected" above proves nothing.
var compliantCheck = model.Check{
	ID: "podsecurity/compliant-pod-admitted", Layer: model.LayerPodSecurity, Name: "compliant pod admitted",
	Description: "a pod that satisfies Pod Security restricted is admitted (the positive control)",
	Expected:    model.ExpectAPI(model.APIAdmitted),
}

// levelCheck: the guide asks every tenant namespace to enforce restricted.
var levelCheck = model.Check{
	ID: "podsecurity/namespace-enforces-restricted", Layer: model.LayerPodSecurity, Name: "tenant namespaces enforce restricted",
	Description: "every tenant namespace carries pod-security.kubernetes.io/enforce=restricted, as the guide's baseline",
	Expected:    model.ExpectAPI(model.APIRejected),
}

func ptr[T any](v T) *T { return &v }
