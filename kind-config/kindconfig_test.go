package kindconfig

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/yaml"
)

func load(t *testing.T, path string) *v1alpha4.Cluster {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var c v1alpha4.Cluster
	require.NoError(t, yaml.UnmarshalStrict(b, &c), "%s must decode strictly with kind's v1alpha4 API", path)
	require.Equal(t, "Cluster", c.Kind)
	require.Equal(t, "kind.x-k8s.io/v1alpha4", c.APIVersion)
	v1alpha4.SetDefaultsCluster(&c)
	return &c
}

func TestCalicoConfig(t *testing.T) {
	c := load(t, "calico.yaml")
	assert.True(t, c.Networking.DisableDefaultCNI, "Calico replaces kind's CNI")
	assert.Equal(t, "192.168.0.0/16", c.Networking.PodSubnet, "Calico's default pool")
	assert.Len(t, c.Nodes, 2, "a worker, so probes cross nodes")
}

func TestKindnetConfig(t *testing.T) {
	c := load(t, "kindnet.yaml")
	assert.False(t, c.Networking.DisableDefaultCNI)
	assert.Len(t, c.Nodes, 2)
}
