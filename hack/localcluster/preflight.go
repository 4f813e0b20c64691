package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ownerMarker marks a state dir as ours; a non-empty dir without it belongs
// to someone else and is never touched.
const ownerMarker = ".tenantcheck-cluster"

// debianPackages are installed when a command they provide is missing.
var debianPackages = map[string]string{
	"containerd":          "containerd",
	"runc":                "runc",
	"ctr":                 "containerd",
	"iptables":            "iptables",
	"ipset":               "ipset",
	"conntrack":           "conntrack",
	"ip":                  "iproute2",
	"nft":                 "nftables",
	"/usr/lib/cni/bridge": "containernetworking-plugins",
}

func preflight(ctx context.Context, c *config) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("must run as root: the cluster runs a kubelet, containerd and iptables rules")
	}
	if err := checkStateDirOwner(c); err != nil {
		return err
	}
	if err := ensurePackages(ctx); err != nil {
		return err
	}
	return checkKernel(ctx)
}

func checkStateDirOwner(c *config) error {
	entries, err := os.ReadDir(c.StateDir)
	if err != nil || len(entries) == 0 {
		return nil
	}
	if !exists(filepath.Join(c.StateDir, ownerMarker)) {
		return fmt.Errorf("state dir %s is in use by something else (no %s marker); choose another with TENANTCHECK_CLUSTER_DIR", c.StateDir, ownerMarker)
	}
	return nil
}

// ensurePackages installs the Debian packages whose commands are missing, and
// only those: a machine that has them is not touched.
func ensurePackages(ctx context.Context) error {
	missing := map[string]bool{}
	for cmd, pkg := range debianPackages {
		if strings.HasPrefix(cmd, "/") {
			if !exists(cmd) {
				missing[pkg] = true
			}
		} else if _, err := exec.LookPath(cmd); err != nil {
			missing[pkg] = true
		}
	}
	if len(missing) == 0 {
		return nil
	}
	var pkgs []string
	for p := range missing {
		pkgs = append(pkgs, p)
	}
	fmt.Fprintf(os.Stderr, "installing Debian packages: %s\n", strings.Join(pkgs, " "))
	if _, err := runCmd(ctx, nil, "", "apt-get", "update", "-qq"); err != nil {
		return fmt.Errorf("apt-get update: %w", err)
	}
	args := append([]string{"install", "-y", "-qq", "--no-install-recommends"}, pkgs...)
	if _, err := runCmd(ctx, []string{"DEBIAN_FRONTEND=noninteractive"}, "", "apt-get", args...); err != nil {
		return fmt.Errorf("install %s: %w", strings.Join(pkgs, " "), err)
	}
	return nil
}

// checkKernel loads the modules the node needs and names what is missing.
func checkKernel(ctx context.Context) error {
	for _, m := range []string{"overlay", "br_netfilter"} {
		_ = exec.CommandContext(ctx, "modprobe", m).Run()
	}
	fs, _ := os.ReadFile("/proc/filesystems")
	if !strings.Contains(string(fs), "overlay") {
		return fmt.Errorf("kernel feature missing: overlay filesystem (containerd's snapshotter needs it)")
	}
	if !exists("/proc/sys/net/bridge/bridge-nf-call-iptables") {
		return fmt.Errorf("kernel feature missing: br_netfilter (Services and NetworkPolicy on the pod bridge need it)")
	}
	if !exists("/sys/fs/cgroup/cpu") && !exists("/sys/fs/cgroup/cgroup.controllers") {
		return fmt.Errorf("kernel feature missing: no cgroup hierarchy under /sys/fs/cgroup")
	}
	return nil
}
