package spec

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDiscover(t *testing.T) {
	l := DefaultTenantLabel
	nss := []Namespace{
		{Name: "b-prod", Labels: map[string]string{l: "team-b"}},
		{Name: "a-prod", Labels: map[string]string{l: "team-a"}},
		{Name: "a-dev", Labels: map[string]string{l: "team-a"}},
		{Name: "kube-system"},
	}
	s, err := Discover(nss, l)
	require.NoError(t, err)
	require.Len(t, s.Tenants, 2)
	assert.Equal(t, Tenant{Name: "team-a", Namespaces: []string{"a-dev", "a-prod"}}, s.Tenants[0])
	assert.Equal(t, Tenant{Name: "team-b", Namespaces: []string{"b-prod"}}, s.Tenants[1])
	assert.Empty(t, s.Shared)

	_, err = Discover(nss[3:], l)
	assert.ErrorContains(t, err, "no namespace carries the label "+l)
	_, err = Discover(nss[1:], l)
	assert.ErrorContains(t, err, "only one tenant (team-a)")
}
