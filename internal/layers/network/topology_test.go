package network

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/probes"
)

// peerAt builds a peer whose pods and service have fake addresses from n.
func peerAt(display string, role Role, tenant string, n int, allowedTo ...string) Peer {
	ns := display + "-x1"
	return Peer{
		Member:      model.Member{Display: display, Namespace: ns, Tenant: tenant, Role: role, AllowedTo: allowedTo},
		Server:      Pod{Namespace: ns, Name: ServerPod, IP: fmt.Sprintf("10.244.0.%d", 10*n+1)},
		Client:      Pod{Namespace: ns, Name: ClientPod, IP: fmt.Sprintf("10.244.0.%d", 10*n+2)},
		ServiceIP:   fmt.Sprintf("10.96.1.%d", n),
		ServiceName: fmt.Sprintf("%s.%s.svc.cluster.local.", ServiceName, ns),
	}
}

// testTopology: two tenants, a shared namespace allowed to both, an outsider
// (which also serves the stand-in resolver) and a canary.
func testTopology() *Topology {
	outsider := peerAt("outsider", RoleOutsider, "", 4)
	canary := peerAt("canary", RoleCanary, "", 5)
	canary.Client = Pod{} // the canary has no client pod
	return &Topology{
		Peers: []Peer{
			peerAt("tenant-a", RoleTenant, "tenant-a", 1),
			peerAt("tenant-b", RoleTenant, "tenant-b", 2),
			peerAt("ingress", RoleShared, "", 3, "tenant-a", "tenant-b"),
			outsider,
			canary,
		},
		DNS:           DNS{ServiceIP: "10.96.0.10", Name: "kube-system/kube-dns"},
		StandIn:       outsider.Server,
		ClusterDomain: "cluster.local",
	}
}

func checkByID(t *testing.T, id string) Check {
	t.Helper()
	for _, c := range Checks {
		if c.ID == id {
			return c
		}
	}
	require.Failf(t, "no such check", "%s", id)
	return Check{}
}

// findPath returns the one path of check id that matches.
func findPath(t *testing.T, top *Topology, id string, match func(Path) bool) Path {
	t.Helper()
	var found []Path
	for _, p := range checkByID(t, id).Paths(top) {
		if match(p) {
			found = append(found, p)
		}
	}
	require.Len(t, found, 1, "paths of %s matching", id)
	return found[0]
}

func TestCheckPaths(t *testing.T) {
	top := testTopology()
	tests := []struct {
		id     string
		pairs  []string // "from>to" display names, each covered by every way of addressing
		protos []probes.Protocol
		dns    bool
	}{
		{"network/same-namespace", []string{"tenant-a>tenant-a", "tenant-b>tenant-b", "ingress>ingress", "outsider>outsider"}, bothProtocols, false},
		{"network/cross-tenant-tcp", []string{"tenant-a>tenant-b", "tenant-b>tenant-a"}, onlyTCP, false},
		{"network/cross-tenant-udp", []string{"tenant-a>tenant-b", "tenant-b>tenant-a"}, onlyUDP, false},
		{"network/shared-ingress-allowed", []string{"ingress>tenant-a", "ingress>tenant-b"}, bothProtocols, false},
		{"network/other-namespace-ingress-denied", []string{"outsider>tenant-a", "outsider>tenant-b"}, bothProtocols, false},
		{"network/tenant-egress-denied", []string{"tenant-a>ingress", "tenant-a>outsider", "tenant-b>ingress", "tenant-b>outsider"}, bothProtocols, false},
		{"network/dns-kube-dns-allowed", []string{"tenant-a>kube-dns", "tenant-b>kube-dns"}, bothProtocols, true},
		{"network/dns-other-resolver-denied", []string{"tenant-a>stand-in resolver", "tenant-b>stand-in resolver"}, bothProtocols, true},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			paths := checkByID(t, tt.id).Paths(top)
			got := map[string]int{}
			for _, p := range paths {
				got[p.From.Display+">"+p.To]++
				assert.Contains(t, tt.protos, p.Protocol)
				assert.NotEqual(t, RoleCanary, p.From.Role, "the canary is never probed by the checks")
				assert.NotEqual(t, "canary", p.To)
				assert.Equal(t, p.From.Client, p.FromPod, "paths start at the client pod")
				if tt.dns {
					assert.Equal(t, probes.DNS, p.Mode)
					assert.Equal(t, probes.ServeDNSPort, p.Port)
				} else {
					assert.Equal(t, probes.ServePort, p.Port)
				}
			}
			perPair := len(tt.protos) * len(allVias)
			if tt.dns {
				perPair = len(tt.protos)
			}
			want := map[string]int{}
			for _, pair := range tt.pairs {
				want[pair] = perPair
			}
			assert.Equal(t, want, got)
		})
	}
}

// A shared namespace a tenant is declared to call (allowedFrom) is no
// must-block path of that tenant; it stays one for the other tenant.
func TestDeclaredSharedServiceIsNotMustBlock(t *testing.T) {
	top := testTopology()
	vault := peerAt("vault", RoleShared, "", 6)
	vault.AllowedFrom = []string{"tenant-a"}
	top.Peers = append(top.Peers, vault)
	got := map[string]bool{}
	for _, p := range checkByID(t, "network/tenant-egress-denied").Paths(top) {
		got[p.From.Display+">"+p.To] = true
	}
	assert.False(t, got["tenant-a>vault"], "declared: tenant-a calls vault")
	assert.True(t, got["tenant-b>vault"], "undeclared: tenant-b must not reach vault")
	assert.True(t, got["tenant-a>ingress"])
}

func TestServerPathAddressing(t *testing.T) {
	top := testTopology()
	a, b := top.Peers[0], top.Peers[1]
	tests := []struct {
		via  model.Via
		host string
	}{
		{model.ViaPodIP, b.Server.IP},
		{model.ViaServiceIP, b.ServiceIP},
		{model.ViaServiceName, b.ServiceName},
	}
	for _, tt := range tests {
		t.Run(string(tt.via), func(t *testing.T) {
			p := serverPath(top, &a, b, probes.TCP, tt.via)
			assert.Equal(t, tt.host, p.Host)
			assert.Equal(t, b.Server.String(), p.ToPod)
			assert.Equal(t, Path{FromPod: b.Client, Host: tt.host, Port: probes.ServePort, Protocol: probes.TCP}.Key(), p.Control,
				"the control is the target's own namespace probing the same address")
			assert.Empty(t, serverPath(top, &b, b, probes.TCP, tt.via).Control, "a same-namespace path is its own control")
		})
	}
}

func TestPathKey(t *testing.T) {
	pod := Pod{Namespace: "ns", Name: "client"}
	connect := Path{FromPod: pod, Host: "10.0.0.1", Port: 8080, Protocol: probes.TCP}
	assert.Equal(t, "ns/client>10.0.0.1:8080/tcp/connect", connect.Key())
	explicit := connect
	explicit.Mode = probes.Connect
	explicit.Via, explicit.To = model.ViaServiceIP, "other display name"
	assert.Equal(t, connect.Key(), explicit.Key(), "an empty mode is connect; display fields are not part of the key")
	dns := connect
	dns.Mode = probes.DNS
	assert.NotEqual(t, connect.Key(), dns.Key())
	udp := connect
	udp.Protocol = probes.UDP
	assert.NotEqual(t, connect.Key(), udp.Key())

	tg := dns.Target(750)
	assert.Equal(t, probes.Target{ID: dns.Key(), Host: "10.0.0.1", Port: 8080, Protocol: probes.TCP, Mode: probes.DNS, TimeoutMs: 750}, tg)
}

func TestPlan(t *testing.T) {
	top := testTopology()
	paths, want := plan(top)

	keys := map[string]Path{}
	for _, p := range paths {
		_, dup := keys[p.Key()]
		assert.False(t, dup, "path %s planned twice", p.Key())
		keys[p.Key()] = p
		assert.Contains(t, want, p.Key(), "every planned path has an expectation")
		assert.NotEqual(t, RoleCanary, p.From.Role)
	}
	assert.Len(t, want, len(keys), "no expectation without a path")

	checkKeys := map[string]bool{}
	for _, c := range Checks {
		for _, p := range c.Paths(top) {
			checkKeys[p.Key()] = true
			require.Contains(t, keys, p.Key(), "%s path planned", c.ID)
			assert.Equal(t, c.Expected.Reach, want[p.Key()], "%s path %s", c.ID, p.Key())
			if p.Control != "" {
				require.Contains(t, keys, p.Control, "control of %s planned", p.Key())
				assert.Equal(t, model.ReachAllowed, want[p.Control], "a control should be Allowed")
			}
		}
	}

	// The DNS checks' controls (the outsider asking each resolver) belong to
	// no check: plan adds them, and only them.
	var extra []string
	for k, p := range keys {
		if !checkKeys[k] {
			extra = append(extra, k)
			assert.Equal(t, "outsider", p.From.Display)
			assert.Equal(t, probes.DNS, p.Mode)
			assert.Empty(t, p.Control)
		}
	}
	assert.ElementsMatch(t, []string{
		"outsider-x1/tc-probe-client>10.96.0.10:53/tcp/dns",
		"outsider-x1/tc-probe-client>10.96.0.10:53/udp/dns",
		"outsider-x1/tc-probe-client>10.244.0.41:53/tcp/dns",
		"outsider-x1/tc-probe-client>10.244.0.41:53/udp/dns",
	}, extra)
}

func TestPlanWithoutResolvers(t *testing.T) {
	top := testTopology()
	top.DNS = DNS{}
	top.StandIn = Pod{}
	paths, _ := plan(top)
	for _, p := range paths {
		assert.NotEqual(t, probes.DNS, p.Mode, "no DNS path without a resolver: %s", p.Key())
	}
	assert.Empty(t, checkByID(t, "network/dns-kube-dns-allowed").Paths(top))
}

func TestControlPathsWithoutOutsider(t *testing.T) {
	top := testTopology()
	var peers []Peer
	for _, p := range top.Peers {
		if p.Role != RoleOutsider {
			peers = append(peers, p)
		}
	}
	top.Peers = peers
	for _, p := range checkByID(t, "network/dns-kube-dns-allowed").Paths(top) {
		assert.Empty(t, p.Control, "no outsider, no DNS control")
	}
	paths, _ := plan(top)
	for _, p := range paths {
		assert.False(t, strings.HasPrefix(p.Key(), "outsider"), p.Key())
	}
}
