package netpol

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// generated are labels controllers stamp on pods, which no tenant writes a
// policy for and which differ between pods of one workload.
var generated = []string{
	"pod-template-hash", "controller-revision-hash", "pod-template-generation",
	"statefulset.kubernetes.io/pod-name", "apps.kubernetes.io/pod-index",
	"controller-uid", "job-name", "batch.kubernetes.io/controller-uid", "batch.kubernetes.io/job-name",
	"batch.kubernetes.io/job-completion-index",
}

// generatedPrefixes are label prefixes of the same kind.
var generatedPrefixes = []string{"tenantcheck.io/"}

// Shape is one kind of workload of a namespace: the labels its pods share
// (without controller-generated ones) and the ports they serve. A mimic
// pod with these labels and ports is, to every policy, the workload.
type Shape struct {
	Namespace string
	Labels    map[string]string
	Ports     []corev1.ContainerPort
	// Pods is how many running pods have this shape; Example is one of them.
	Pods    int
	Example string
	// Services name the Services that select the shape, and ServicePorts
	// are the ports they expose that reach it ("svc:80->8080/TCP").
	Services     []string
	ServicePorts []string
}

// Key identifies a shape within its namespace.
func (s Shape) Key() string {
	var ports []string
	for _, p := range s.Ports {
		ports = append(ports, fmt.Sprintf("%s:%d/%s", p.Name, p.ContainerPort, proto(p.Protocol)))
	}
	return labels.Set(s.Labels).String() + " " + strings.Join(ports, ",")
}

func proto(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

// Shapes groups a namespace's running pods into workload shapes, largest
// first (then by key), and says which Services reach each. Pods that are
// finished, being deleted, or on the host network (policy does not apply
// to them) are left out; so are tenantcheck's own.
func Shapes(ns string, pods []corev1.Pod, services []corev1.Service) []Shape {
	byKey := map[string]*Shape{}
	for _, p := range pods {
		if p.Namespace != ns || p.DeletionTimestamp != nil || p.Spec.HostNetwork ||
			p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed || p.Labels["app.kubernetes.io/managed-by"] == "tenantcheck" {
			continue
		}
		s := Shape{Namespace: ns, Labels: workloadLabels(p.Labels), Ports: containerPorts(p)}
		k := s.Key()
		if have, ok := byKey[k]; ok {
			have.Pods++
			continue
		}
		s.Pods, s.Example = 1, p.Name
		for _, svc := range services {
			if svc.Namespace != ns || len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(p.Labels)) {
				continue
			}
			s.Services = append(s.Services, svc.Name)
			for _, sp := range svc.Spec.Ports {
				if target, ok := servicePort(sp, s.Ports); ok {
					s.ServicePorts = append(s.ServicePorts, fmt.Sprintf("%s:%d->%d/%s", svc.Name, sp.Port, target, proto(sp.Protocol)))
				}
			}
		}
		byKey[k] = &s
	}
	out := make([]Shape, 0, len(byKey))
	for _, s := range byKey {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Pods != out[j].Pods {
			return out[i].Pods > out[j].Pods
		}
		return out[i].Key() < out[j].Key()
	})
	return out
}

// Bound keeps the first max shapes and returns the rest as untested.
func Bound(shapes []Shape, max int) (tested, untested []Shape) {
	if max <= 0 || len(shapes) <= max {
		return shapes, nil
	}
	return shapes[:max], shapes[max:]
}

func workloadLabels(l map[string]string) map[string]string {
	out := maps.Clone(l)
	if out == nil {
		out = map[string]string{}
	}
	for k := range out {
		if slices.Contains(generated, k) || slices.ContainsFunc(generatedPrefixes, func(p string) bool { return strings.HasPrefix(k, p) }) {
			delete(out, k)
		}
	}
	return out
}

// containerPorts are the ports of every container (init containers that
// keep running as sidecars included), sorted; hostPort and hostIP dropped.
func containerPorts(p corev1.Pod) []corev1.ContainerPort {
	var out []corev1.ContainerPort
	cs := append(slices.Clone(p.Spec.Containers), p.Spec.InitContainers...)
	for _, c := range cs {
		for _, cp := range c.Ports {
			out = append(out, corev1.ContainerPort{Name: cp.Name, ContainerPort: cp.ContainerPort, Protocol: proto(cp.Protocol)})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].ContainerPort != out[j].ContainerPort {
			return out[i].ContainerPort < out[j].ContainerPort
		}
		return out[i].Protocol < out[j].Protocol
	})
	return slices.CompactFunc(out, func(a, b corev1.ContainerPort) bool { return a == b })
}

// servicePort is the container port a Service port reaches, by number or
// by name; ok is false when the pod serves no such port.
func servicePort(sp corev1.ServicePort, ports []corev1.ContainerPort) (int32, bool) {
	t := sp.TargetPort
	for _, cp := range ports {
		if proto(cp.Protocol) != proto(sp.Protocol) {
			continue
		}
		switch {
		case t.StrVal != "" && cp.Name == t.StrVal:
			return cp.ContainerPort, true
		case t.StrVal == "" && t.IntVal == 0 && cp.ContainerPort == sp.Port:
			return cp.ContainerPort, true
		case t.StrVal == "" && t.IntVal != 0 && cp.ContainerPort == t.IntVal:
			return cp.ContainerPort, true
		}
	}
	return 0, false
}
