package network

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantcheck/tenantcheck/internal/baseline"
	"github.com/tenantcheck/tenantcheck/internal/layer"
)

func TestProbePod(t *testing.T) {
	top := testTopology()
	peer := top.Peers[0]
	pod := probePod(layer.ProbeSettings{Image: "img", PullPolicy: "Never"}, baseline.OwnershipLabels("r1"), "r1", peer, ServerPod, false)

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
