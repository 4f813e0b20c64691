package network

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantcheck/tenantcheck/probes"
)

// resolvExec answers the agent's "resolv" command with a fixed JSON.
type resolvExec struct{ out string }

func (e resolvExec) Exec(_ context.Context, _, _, _ string, cmd []string, _ []byte) (string, string, error) {
	if len(cmd) == 2 && cmd[1] == "resolv" {
		return e.out, "", nil
	}
	return "", "", nil
}
func (resolvExec) ReproExec(ns, pod, container string, cmd []string) string { return "" }

func TestLearnDNS(t *testing.T) {
	t.Run("a custom cluster domain renames the service paths and the DNS question", func(t *testing.T) {
		top := testTopology()
		learnDNS(context.Background(), resolvExec{`{"nameservers":["10.96.0.10"],"search":["a.svc.corp.example","svc.corp.example","corp.example"]}`}, top, t.Logf)
		assert.Equal(t, "corp.example", top.ClusterDomain)
		for _, p := range top.Peers {
			assert.Equal(t, "tc-probe."+p.Namespace+".svc.corp.example.", p.ServiceName)
		}
		name, ip := top.DNS.Resolver()
		assert.Equal(t, "kube-dns", name, "the pods ask kube-dns")
		assert.Equal(t, top.DNS.ServiceIP, ip)
	})
	t.Run("NodeLocal DNSCache: DNS allowed is judged against the pods' resolver", func(t *testing.T) {
		top := testTopology()
		learnDNS(context.Background(), resolvExec{`{"nameservers":["169.254.20.10"],"search":["svc.cluster.local"]}`}, top, t.Logf)
		assert.Equal(t, "cluster.local", top.ClusterDomain)
		var dnsCheck Check
		for _, c := range Checks {
			if c.ID == "network/dns-kube-dns-allowed" {
				dnsCheck = c
			}
		}
		paths := dnsCheck.Paths(top)
		require.NotEmpty(t, paths)
		for _, p := range paths {
			assert.Equal(t, "169.254.20.10", p.Host)
			assert.Equal(t, probes.DNS, p.Mode)
		}
	})
	t.Run("no answer leaves the configured values", func(t *testing.T) {
		top := testTopology()
		learnDNS(context.Background(), resolvExec{"not json"}, top, t.Logf)
		assert.Equal(t, "cluster.local", top.ClusterDomain)
		assert.Empty(t, top.DNS.Configured)
	})
}

func TestDNSQuestionFollowsTheDomain(t *testing.T) {
	top := testTopology()
	a := top.Peers[0]
	p := Path{From: &a, FromPod: a.Client, Host: "10.96.0.10", Port: 53, Protocol: probes.UDP, Mode: probes.DNS}
	ex := &scriptedExec{}
	pr := &prober{exec: ex, timeout: 100, domain: "corp.example"}
	pr.batch(context.Background(), a.Client, []Path{p})
	require.Len(t, ex.calls, 1)
	assert.Equal(t, "kubernetes.default.svc.corp.example.", ex.calls[0].Batch.Targets[0].QueryName)
}
