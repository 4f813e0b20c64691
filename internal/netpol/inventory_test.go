package netpol

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func pod(name string, l map[string]string, ports ...corev1.ContainerPort) corev1.Pod {
	return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, Labels: l},
		Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Ports: ports}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning}}
}

func TestShapes(t *testing.T) {
	web := map[string]string{"app": "web", "tier": "front"}
	withHash := func(l map[string]string, h string) map[string]string {
		out := map[string]string{"pod-template-hash": h}
		for k, v := range l {
			out[k] = v
		}
		return out
	}
	http := corev1.ContainerPort{Name: "http", ContainerPort: 8080}
	metrics := corev1.ContainerPort{Name: "metrics", ContainerPort: 9090, Protocol: corev1.ProtocolTCP}
	dns := corev1.ContainerPort{Name: "dns", ContainerPort: 5353, Protocol: corev1.ProtocolUDP}
	pods := []corev1.Pod{
		pod("web-1", withHash(web, "abc"), http, metrics),
		pod("web-2", withHash(web, "def"), metrics, http), // another ReplicaSet's hash, ports in another order: same shape
		pod("api-1", map[string]string{"app": "api"}, corev1.ContainerPort{ContainerPort: 9000}),
		pod("resolver-1", map[string]string{"app": "resolver"}, dns),
	}
	done := pod("job-1", map[string]string{"job-name": "x"})
	done.Status.Phase = corev1.PodSucceeded
	host := pod("node-agent", map[string]string{"app": "agent"})
	host.Spec.HostNetwork = true
	probe := pod("tc-probe-server", map[string]string{"app.kubernetes.io/managed-by": "tenantcheck"})
	pods = append(pods, done, host, probe)
	svcs := []corev1.Service{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"}, Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromString("http")}, {Port: 9090}}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "dns"}, Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "resolver"},
			Ports: []corev1.ServicePort{{Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromInt32(5353)}}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "headless-external"}}, // no selector: selects nothing
	}
	got := Shapes("shop", pods, svcs)
	require.Len(t, got, 3, "web, api, resolver; finished, host-network and tenantcheck's pods left out")
	assert.Equal(t, web, got[0].Labels, "controller-generated labels dropped")
	assert.Equal(t, 2, got[0].Pods, "largest first")
	assert.Equal(t, []string{"web"}, got[0].Services)
	assert.Equal(t, []string{"web:80->8080/TCP", "web:9090->9090/TCP"}, got[0].ServicePorts)
	assert.Equal(t, map[string]string{"app": "api"}, got[1].Labels)
	assert.Equal(t, corev1.ProtocolTCP, got[1].Ports[0].Protocol, "the protocol defaults to TCP")
	assert.Equal(t, []string{"dns:53->5353/UDP"}, got[2].ServicePorts)

	tested, untested := Bound(got, 2)
	assert.Len(t, tested, 2)
	assert.Equal(t, "resolver-1", untested[0].Example)
	tested, untested = Bound(got, 0)
	assert.Len(t, tested, 3)
	assert.Empty(t, untested)
}
