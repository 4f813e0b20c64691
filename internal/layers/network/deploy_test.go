package network

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/tenantcheck/tenantcheck/internal/baseline"
	"github.com/tenantcheck/tenantcheck/internal/layer"
	"github.com/tenantcheck/tenantcheck/probes"
)

func TestProbePod(t *testing.T) {
	top := testTopology()
	peer := top.Peers[0]
	pod := probePod(layer.ProbeSettings{Image: "img", PullPolicy: "Never", PriorityClass: "tenantcheck-probe"}, baseline.OwnershipLabels("r1"), "r1", peer, ServerPod, false)
	assert.Equal(t, "tenantcheck-probe", pod.Spec.PriorityClassName, "below the tenants' pods, as deploy/ asks")

	c := pod.Spec.Containers[0]
	assert.Equal(t, []string{"serve", "--port", "8080", "--nonce", "r1"}, c.Args, "the server greets with the run's nonce")
	assert.False(t, *c.SecurityContext.AllowPrivilegeEscalation)
	assert.True(t, *pod.Spec.SecurityContext.RunAsNonRoot)
	assert.Equal(t, "false", pod.Labels["sidecar.istio.io/inject"], "opted out of Istio injection")
	assert.Equal(t, "false", pod.Annotations["sidecar.istio.io/inject"])
	assert.Equal(t, "disabled", pod.Annotations["linkerd.io/inject"], "opted out of Linkerd injection")
	assert.Equal(t, peer.Tenant, pod.Labels[labelPartOf])
	require.NotNil(t, pod.Spec.Affinity)
	terms := pod.Spec.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution
	require.Len(t, terms, 1, "probe pods prefer distinct nodes")
	assert.Equal(t, "kubernetes.io/hostname", terms[0].PodAffinityTerm.TopologyKey)
	assert.Equal(t, "r1", terms[0].PodAffinityTerm.LabelSelector.MatchLabels[baseline.LabelRun])
}

// A tenant Service that would select the probe server by the guide's
// part-of label costs the probe pods that label; one on the tenant's own
// labels does not. Paths from a shared namespace to such a probe server are
// then Errors that say why, never Held or Broken.
func TestPartOfTakenByATenantService(t *testing.T) {
	top := testTopology()
	peer := top.Peers[0]
	svc := func(name string, sel map[string]string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: peer.Namespace}, Spec: corev1.ServiceSpec{Selector: sel}}
	}
	cs := fake.NewClientset(svc("web", map[string]string{"app": "web"}), svc("headless", nil))
	why, err := partOfTaken(context.Background(), cs, baseline.OwnershipLabels("r1"), peer)
	require.NoError(t, err)
	assert.Empty(t, why, "no Service of the tenant's selects the probe server")

	cs = fake.NewClientset(svc("web", map[string]string{"app": "web"}), svc("everything", map[string]string{labelPartOf: peer.Tenant}))
	why, err = partOfTaken(context.Background(), cs, baseline.OwnershipLabels("r1"), peer)
	require.NoError(t, err)
	assert.Contains(t, why, "Service everything selects on it")

	peer.NoPartOf = why
	pod := probePod(layer.ProbeSettings{Image: "img"}, baseline.OwnershipLabels("r1"), "r1", peer, ServerPod, false)
	assert.NotContains(t, pod.Labels, labelPartOf)
	top.Peers[0] = peer
	toServer := findPath(t, top, "network/shared-ingress-allowed", func(p Path) bool {
		return p.ToNamespace == peer.Namespace && p.Host == peer.Server.IP && p.Protocol == probes.TCP
	})
	assert.Equal(t, why, top.unready(toServer), "shared ingress to a probe server without part-of proves nothing")
	fromTenant := findPath(t, top, "network/cross-tenant-tcp", func(p Path) bool {
		return p.From.Namespace == top.Peers[1].Namespace && p.ToNamespace == peer.Namespace && p.Host == peer.Server.IP && p.Protocol == probes.TCP
	})
	assert.Empty(t, top.unready(fromTenant), "a cross-tenant path does not depend on part-of")
}
