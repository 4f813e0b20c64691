package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// clusterState is what a running cluster was started with, kept in the state
// dir so that a second "up" can tell a no-op from a change.
type clusterState struct {
	K8sVersion string `json:"k8sVersion"`
	Profile    string `json:"profile"`
	NoPSA      bool   `json:"noPSA"`
	Deny       string `json:"deny,omitempty"`
	NodeIP     string `json:"nodeIP"`
	// Flags is the daemons' flag revision the cluster was started with: a
	// running cluster of another revision is restarted by "up".
	Flags string `json:"flags,omitempty"`
}

// flagsRev names the daemons' current flags; change it with them.
// 2026-12-03: the controller-manager's client rate limit raised from
// 20/s to 200/s and 25 namespaces deleted at once; the kubelet takes 250
// pods (default 110: 100 tenants run 202 probe pods; the pod CIDR, a /24,
// holds 253) (issue 16).
const flagsRev = "2026-12-03.2"

func stateFile(c *config) string { return filepath.Join(c.StateDir, "cluster.json") }

func readState(c *config) (clusterState, bool) {
	var st clusterState
	b, err := os.ReadFile(stateFile(c))
	if err != nil || json.Unmarshal(b, &st) != nil {
		return st, false
	}
	return st, true
}

func writeState(c *config, st clusterState) error {
	b, _ := json.MarshalIndent(st, "", "  ")
	return os.WriteFile(stateFile(c), b, 0o644)
}

// up brings the cluster to the asked state. A healthy cluster already in that
// state is left alone; one that differs only in profile is switched in place;
// anything else (a killed or half-started cluster) is torn down and started
// afresh.
func up(ctx context.Context, c *config) error {
	// The lock is taken here, not by the command line, so that the live
	// tests, which call this directly, are kept apart from a command too.
	unlock, err := lockHost(c)
	if err != nil {
		return err
	}
	defer unlock()
	s := newSteps()
	if err := preflight(ctx, c); err != nil {
		return err
	}
	b, err := ensureBuilt(ctx, c, s)
	if err != nil {
		return err
	}
	st, ok := readState(c)
	if ok && st.Flags != flagsRev {
		s.say("the running cluster was started with older daemon flags (%q, now %q): restarting it", st.Flags, flagsRev)
	}
	if ok && st.Flags == flagsRev && healthy(c, b) {
		if st.K8sVersion != c.K8sVersion {
			return fmt.Errorf("a cluster already runs Kubernetes %s; run `make cluster-upgrade K8S_VERSION=%s` or `make cluster-down` first", st.K8sVersion, c.K8sVersion)
		}
		if st.Deny != c.Deny || dropRulePresent(ctx, dropTable) != (c.Deny == denyDrop) || dropRulePresent(ctx, "filter") {
			if err := switchDeny(ctx, c, b, st, s); err != nil {
				return err
			}
			st, _ = readState(c)
		}
		if st.NoPSA != c.NoPSA {
			if err := switchPSA(ctx, c, b, st, s); err != nil {
				return err
			}
			st, _ = readState(c)
		}
		if st.Profile != c.Profile {
			if err := switchProfile(ctx, c, b, st, s); err != nil {
				return err
			}
			st, _ = readState(c)
		}
		if err := refreshProbeImage(ctx, c, b, s); err != nil {
			return err
		}
		if err := ensureFlux(ctx, c, b, s); err != nil {
			return err
		}
		s.say("cluster up (%s, %s, denied connections %s); kubeconfig: %s", st.K8sVersion, c.Profile, c.Deny, c.kubeconfig())
		return nil
	}
	if err := teardown(ctx, c, s); err != nil {
		return fmt.Errorf("clean up what an earlier cluster left: %w", err)
	}
	if err := checkFree(c); err != nil {
		return err
	}
	if err := startCluster(ctx, c, b, s); err != nil {
		s.say("start failed; tearing down so nothing is left half-started")
		if terr := teardown(context.Background(), c, s); terr != nil {
			err = errors.Join(err, fmt.Errorf("teardown: %w", terr))
		}
		return err
	}
	fmt.Printf("cluster up in %s: Kubernetes %s, profile %s\nkubeconfig: %s\n", s.elapsed(), c.K8sVersion, c.Profile, c.kubeconfig())
	return nil
}

// healthy says whether every daemon of the recorded cluster runs and the API
// server answers.
func healthy(c *config, b binaries) bool {
	st, _ := readState(c)
	for _, d := range stopOrder {
		if d.name == "kube-router" && st.Profile != profileEnforcing {
			continue
		}
		if _, ok := runningPid(c, d.name, d.bin); !ok {
			return false
		}
	}
	if _, ok := runningPid(c, "containerd", "containerd"); !ok {
		return false
	}
	return apiReady(context.Background(), c) == nil
}

func startCluster(ctx context.Context, c *config, b binaries, s *steps) error {
	ip, err := hostIP()
	if err != nil {
		return err
	}
	nodeIP := ip.String()
	for _, d := range []string{c.StateDir, c.RunDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(c.StateDir, ownerMarker), []byte("tenantcheck local cluster\n"), 0o644); err != nil {
		return err
	}
	if err := saveSysctls(c); err != nil {
		return err
	}
	for k, v := range neededSysctls {
		if err := writeSysctl(k, v); err != nil {
			return fmt.Errorf("set sysctl %s=%s: %w", k, v, err)
		}
	}
	if err := writePKI(c, ip); err != nil {
		return fmt.Errorf("generate PKI: %w", err)
	}
	if err := writeConfigs(c); err != nil {
		return err
	}
	if err := writeState(c, clusterState{K8sVersion: c.K8sVersion, Profile: c.Profile, NoPSA: c.NoPSA, Deny: c.Deny, NodeIP: nodeIP, Flags: flagsRev}); err != nil {
		return err
	}
	s.say("PKI and configs written (node IP %s)", nodeIP)
	if err := startControlPlane(ctx, c, b, nodeIP, s); err != nil {
		return err
	}
	if err := startNode(ctx, c, b, nodeIP, s); err != nil {
		return err
	}
	if err := deployDNS(ctx, c, b, s); err != nil {
		return err
	}
	if c.Profile == profileEnforcing {
		if err := start(c, kubeRouterDaemon(c, b)); err != nil {
			return err
		}
		s.say("kube-router started (NetworkPolicy firewall)")
	}
	if err := ensureDeny(ctx, c); err != nil {
		return err
	}
	if err := selfCheck(ctx, c, b, s); err != nil {
		return err
	}
	return ensureFlux(ctx, c, b, s)
}

func startControlPlane(ctx context.Context, c *config, b binaries, nodeIP string, s *steps) error {
	if err := start(c, etcdDaemon(c, b)); err != nil {
		return err
	}
	if err := start(c, apiserverDaemon(c, b, nodeIP)); err != nil {
		return err
	}
	if err := poll(ctx, 250*time.Millisecond, 90*time.Second, "kube-apiserver /readyz", func(ctx context.Context) (bool, error) {
		if _, ok := runningPid(c, "kube-apiserver", "kube-apiserver"); !ok {
			return false, fmt.Errorf("kube-apiserver exited; see %s:\n%s", c.logFile("kube-apiserver"), logTail(c, "kube-apiserver"))
		}
		err := apiReady(ctx, c)
		return err == nil, err
	}); err != nil {
		return err
	}
	s.say("etcd and kube-apiserver ready")
	if err := start(c, controllerManagerDaemon(c, b)); err != nil {
		return err
	}
	if err := start(c, schedulerDaemon(c, b)); err != nil {
		return err
	}
	s.say("controller-manager and scheduler started")
	return nil
}

func startNode(ctx context.Context, c *config, b binaries, nodeIP string, s *steps) error {
	if err := start(c, containerdDaemon(c)); err != nil {
		return err
	}
	if err := poll(ctx, 100*time.Millisecond, 30*time.Second, "containerd socket", func(context.Context) (bool, error) {
		return exists(containerdSock(c)), nil
	}); err != nil {
		return err
	}
	images, err := clusterImages(ctx, c, b)
	if err != nil {
		return err
	}
	if err := importImages(ctx, c, images); err != nil {
		return err
	}
	s.say("containerd up; images imported (pause, coredns, probe, kustomize-controller)")
	if err := start(c, kubeletDaemon(c, b, nodeIP)); err != nil {
		return err
	}
	if err := start(c, kubeProxyDaemon(c, b)); err != nil {
		return err
	}
	if err := poll(ctx, 500*time.Millisecond, 120*time.Second, "node Ready", func(ctx context.Context) (bool, error) {
		out, err := kubectl(ctx, c, b, "", "get", "node", nodeName, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
		if _, ok := runningPid(c, "kubelet", "kubelet"); !ok {
			return false, fmt.Errorf("kubelet exited; see %s:\n%s", c.logFile("kubelet"), logTail(c, "kubelet"))
		}
		return strings.TrimSpace(out) == "True", err
	}); err != nil {
		return err
	}
	s.say("kubelet and kube-proxy up; node %s Ready", nodeName)
	return nil
}

// refreshProbeImage rebuilds the probe agent from the checkout and imports it
// when it changed, so a warm cluster always runs the current agent.
func refreshProbeImage(ctx context.Context, c *config, b binaries, s *steps) error {
	images, err := clusterImages(ctx, c, b)
	if err != nil {
		return err
	}
	if err := importImages(ctx, c, images); err != nil {
		return err
	}
	s.say("images current")
	return nil
}

func switchProfile(ctx context.Context, c *config, b binaries, st clusterState, s *steps) error {
	if c.Profile == profileEnforcing {
		if err := start(c, kubeRouterDaemon(c, b)); err != nil {
			return err
		}
	} else {
		if err := stop(c, "kube-router", "kube-router", 10*time.Second); err != nil {
			return err
		}
		if err := removeRouterRules(ctx); err != nil {
			return err
		}
	}
	st.Profile = c.Profile
	if err := writeState(c, st); err != nil {
		return err
	}
	s.say("profile switched to %s", c.Profile)
	return selfCheck(ctx, c, b, s)
}

// switchDeny adds or removes the node's drop rule and proves the result
// with the self-check.
func switchDeny(ctx context.Context, c *config, b binaries, st clusterState, s *steps) error {
	if err := ensureDeny(ctx, c); err != nil {
		return err
	}
	st.Deny = c.Deny
	if err := writeState(c, st); err != nil {
		return err
	}
	s.say("denied connections now %s", map[string]string{denyDrop: "dropped (they time out)", denyReject: "rejected (refused at once)"}[c.Deny])
	return selfCheck(ctx, c, b, s)
}

// switchPSA restarts the control plane and node agents with or without the
// PodSecurity admission plugin, keeping etcd, containerd and the pods. Only
// restarting the API server is not enough: kube-router and the controllers
// then lag behind for tens of seconds, so everything that talks to it is
// restarted and the self-check proves the result.
func switchPSA(ctx context.Context, c *config, b binaries, st clusterState, s *steps) error {
	if err := stopAgents(c); err != nil {
		return err
	}
	st.NoPSA = c.NoPSA
	if err := writeState(c, st); err != nil {
		return err
	}
	if err := restartOnVersion(ctx, c, b, st.NodeIP, s); err != nil {
		return err
	}
	s.say("cluster restarted with PodSecurity admission %s", map[bool]string{true: "off", false: "on"}[c.NoPSA])
	return nil
}

// removeRouterRules drops kube-router's firewall chains and sets so that
// policies stop being enforced at once, leaving kube-proxy's rules alone.
func removeRouterRules(ctx context.Context) error {
	save := ourChainPrefixes
	ourChainPrefixes = []string{"KUBE-ROUTER-", "KUBE-POD-FW-", "KUBE-NWPLCY-", "KUBE-SRC-", "KUBE-DST-"}
	defer func() { ourChainPrefixes = save }()
	var errs []error
	for _, tool := range []string{"iptables", "ip6tables"} {
		errs = append(errs, removeOurRules(ctx, tool))
	}
	return errors.Join(errs...)
}

// apiReady asks the API server's /readyz with the admin credentials.
func apiReady(ctx context.Context, c *config) error {
	cert, err := tls.LoadX509KeyPair(c.pki("admin.crt"), c.pki("admin.key"))
	if err != nil {
		return err
	}
	caPEM, err := os.ReadFile(c.pki("ca.crt"))
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("https://127.0.0.1:%d/readyz", apiPort), nil)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/readyz: %s", resp.Status)
	}
	return nil
}

func logTail(c *config, name string) string {
	b, _ := os.ReadFile(c.logFile(name))
	return tail(string(b), 15)
}

// checkFree fails when something that is not ours holds a port the cluster needs.
func checkFree(c *config) error {
	for _, port := range []int{apiPort, etcdPort, 2380, 10250} {
		l, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
		if err != nil {
			return fmt.Errorf("port %d is already in use by another program; stop it or free the port", port)
		}
		l.Close()
	}
	return nil
}
