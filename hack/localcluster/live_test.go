package main

// Live tests of the local cluster. They start, switch, upgrade and stop the
// real cluster, so they need root and a few minutes; `make test` runs them.
// They never skip: without what they need they fail and say why.

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
)

func liveConfig(t *testing.T, extra ...string) *config {
	t.Helper()
	_, c, err := parseFlags(append([]string{"up"}, extra...))
	if err != nil {
		t.Fatalf("flags: %v", err)
	}
	if os.Geteuid() != 0 {
		t.Fatal("live cluster tests must run as root (they start a kubelet and containerd)")
	}
	return c
}

func mustUp(t *testing.T, ctx context.Context, c *config) binaries {
	t.Helper()
	if err := up(ctx, c); err != nil {
		t.Fatalf("cluster up (%s, %s): %v", c.K8sVersion, c.Profile, err)
	}
	b, err := ensureBuilt(ctx, c, newSteps())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// crossNamespaceConnect creates a server and a client pod in two fresh
// namespaces and returns a function that probes server from client.
func crossNamespaceConnect(t *testing.T, ctx context.Context, c *config, b binaries) func() string {
	t.Helper()
	nsS, nsC := "tc-live-server", "tc-live-client"
	t.Cleanup(func() {
		_, _ = kubectl(context.Background(), c, b, "", "delete", "namespace", nsS, nsC, "--ignore-not-found", "--wait=true", "--timeout=60s")
	})
	var ns, pods []string
	for _, p := range [][2]string{{"server", nsS}, {"client", nsC}} {
		ns = append(ns, "apiVersion: v1\nkind: Namespace\nmetadata: {name: "+p[1]+"}\n")
		pods = append(pods, strings.NewReplacer("NAME", p[0], "NS", p[1], "IMAGE", probeImage).Replace(selfCheckPod))
	}
	if _, err := kubectl(ctx, c, b, strings.Join(ns, "---\n"), "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	if err := waitDefaultSA(ctx, c, b, nsS, nsC); err != nil {
		t.Fatal(err)
	}
	if _, err := kubectl(ctx, c, b, strings.Join(pods, "---\n"), "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	for _, p := range [][2]string{{"server", nsS}, {"client", nsC}} {
		if _, err := kubectl(ctx, c, b, "", "-n", p[1], "wait", "pod/"+p[0], "--for=condition=Ready", "--timeout=90s"); err != nil {
			t.Fatal(err)
		}
	}
	ip, err := kubectl(ctx, c, b, "", "-n", nsS, "get", "pod", "server", "-o", "jsonpath={.status.podIP}")
	if err != nil || ip == "" {
		t.Fatalf("server pod IP: %q %v", ip, err)
	}
	return func() string {
		out, _ := kubectl(ctx, c, b, "", "-n", nsC, "exec", "client", "--", "/tenantcheck-probe", "connect", "--host", ip, "--port", "8080", "--timeout", "500ms")
		var r struct{ Outcome string }
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("probe output %q: %v", out, err)
		}
		return r.Outcome
	}
}

func applyDenyIngress(t *testing.T, ctx context.Context, c *config, b binaries) {
	t.Helper()
	policy := strings.ReplaceAll(selfCheckPolicy, "tc-selfcheck-server", "tc-live-server")
	if _, err := kubectl(ctx, c, b, policy, "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
}

// Must show 2 of the local-cluster issue: the enforcing profile blocks a
// cross-namespace connect after default-deny; the unenforced one does not.
func TestLiveProfiles(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		profile     string
		wantBlocked bool
	}{{profileEnforcing, true}, {profileUnenforced, false}} {
		t.Run(tc.profile, func(t *testing.T) {
			c := liveConfig(t, "--profile="+tc.profile)
			b := mustUp(t, ctx, c)
			connect := crossNamespaceConnect(t, ctx, c, b)
			if got := connect(); got != "connected" {
				t.Fatalf("before any policy: outcome %q, want connected", got)
			}
			applyDenyIngress(t, ctx, c, b)
			var got string
			deadline := time.Now().Add(10 * time.Second)
			for time.Now().Before(deadline) {
				if got = connect(); got != "connected" {
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
			blocked := got == "refused" || got == "timeout"
			if blocked != tc.wantBlocked {
				t.Fatalf("profile %s after default-deny ingress: outcome %q, want blocked=%v", tc.profile, got, tc.wantBlocked)
			}
		})
	}
}

// Must show 4: an upgrade keeps namespaces and objects and serves the new version.
func TestLiveUpgrade(t *testing.T) {
	ctx := context.Background()
	from, to := "v1.36.3", "v1.37.2"
	c := liveConfig(t, "--k8s-version="+from)
	unlock, err := lockHost(c)
	if err != nil {
		t.Fatal(err)
	}
	err = teardown(ctx, c, newSteps())
	unlock()
	if err != nil {
		t.Fatal(err)
	}
	b := mustUp(t, ctx, c)
	if _, err := kubectl(ctx, c, b, "apiVersion: v1\nkind: Namespace\nmetadata: {name: tc-upgrade-keep}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: keep, namespace: tc-upgrade-keep}\ndata: {k: v}\n", "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	c.K8sVersion = to
	if err := upgrade(ctx, c); err != nil {
		t.Fatalf("upgrade %s -> %s: %v", from, to, err)
	}
	b, _ = ensureBuilt(ctx, c, newSteps())
	out, err := kubectl(ctx, c, b, "", "version", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct{ ServerVersion struct{ GitVersion string } }
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.ServerVersion.GitVersion != to {
		t.Fatalf("server version after upgrade: %q (%v), want %s", v.ServerVersion.GitVersion, err, to)
	}
	if got, err := kubectl(ctx, c, b, "", "-n", "tc-upgrade-keep", "get", "configmap", "keep", "-o", "jsonpath={.data.k}"); err != nil || got != "v" {
		t.Fatalf("object lost in upgrade: %q %v", got, err)
	}
	node, err := kubectl(ctx, c, b, "", "get", "node", nodeName, "-o", "jsonpath={.status.nodeInfo.kubeletVersion}")
	if err != nil || node != to {
		t.Fatalf("kubelet version after upgrade: %q %v", node, err)
	}
}

// Must show 3: after down, no trace of the cluster is left on the host.
func TestLiveDownLeavesNothing(t *testing.T) {
	ctx := context.Background()
	c := liveConfig(t)
	mustUp(t, ctx, c)
	if err := down(ctx, c); err != nil {
		t.Fatalf("down: %v", err)
	}
	if err := verifyClean(c); err != nil {
		t.Fatal(err)
	}
}
