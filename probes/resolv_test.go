package probes

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestParseResolvConf(t *testing.T) {
	tests := []struct {
		name, text string
		servers    []string
		domain     string
	}{
		{"kubelet's default", "search tenant-a.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n",
			[]string{"10.96.0.10"}, "cluster.local"},
		{"custom domain and NodeLocal DNSCache", "nameserver 169.254.20.10\nsearch ns.svc.corp.example svc.corp.example corp.example\n",
			[]string{"169.254.20.10"}, "corp.example"},
		{"comments and no search list", "# generated\nnameserver 10.0.0.10\n; x\n", []string{"10.0.0.10"}, ""},
		{"the last search line wins", "search a.svc.one svc.one\nsearch svc.two.\n", nil, "two"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := ParseResolvConf(strings.NewReader(tt.text))
			assert.Equal(t, tt.servers, rc.Nameservers)
			assert.Equal(t, tt.domain, rc.ClusterDomain())
		})
	}
}
