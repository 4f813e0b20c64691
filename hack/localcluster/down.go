package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The daemons in stop order (reverse of start), with the binary name their
// pid must match.
var stopOrder = []struct{ name, bin string }{
	{"kube-router", "kube-router"},
	{"kube-proxy", "kube-proxy"},
	{"kubelet", "kubelet"},
	{"kube-scheduler", "kube-scheduler"},
	{"kube-controller-manager", "kube-controller-manager"},
	{"kube-apiserver", "kube-apiserver"},
	{"etcd", "etcd"},
}

func down(ctx context.Context, c *config) error {
	// The lock is taken here, not by the command line, so that the live
	// tests, which call this directly, are kept apart from a command too.
	unlock, err := lockHost(c)
	if err != nil {
		return err
	}
	defer unlock()
	s := newSteps()
	if err := teardown(ctx, c, s); err != nil {
		return err
	}
	s.say("cluster down; nothing left running")
	return nil
}

// teardown stops everything the cluster started and removes every trace of
// it from the host. It also cleans up after a cluster that was killed: it
// works from pid files, process command lines, mountinfo and the iptables
// ruleset, not from memory of what it started.
func teardown(ctx context.Context, c *config, s *steps) error {
	var errs []error
	for _, d := range stopOrder {
		if err := stop(c, d.name, d.bin, 10*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	// Daemons whose pid file is gone but which still run from our state dir.
	for _, pid := range clusterProcs(c.StateDir) {
		if exeName(pid) == "containerd" {
			continue // stopped below, after its containers
		}
		if err := killWait(pid, exeName(pid), 5*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	s.say("control plane and node agents stopped")
	errs = append(errs, killContainers(c))
	if err := stop(c, "containerd", "containerd", 10*time.Second); err != nil {
		errs = append(errs, err)
	}
	// Whatever of ours still runs: an orphaned containerd, a shim.
	for _, pid := range append(clusterProcs(c.StateDir), clusterProcs(c.RunDir)...) {
		errs = append(errs, killWait(pid, exeName(pid), 5*time.Second))
	}
	s.say("containers and containerd stopped")
	errs = append(errs, cleanHost(ctx, c))
	s.say("host cleaned: mounts, cni0, iptables chains, ipsets, sysctls")
	return errors.Join(errs...)
}

// killContainers kills every process in the kubelet's pod cgroups and every
// containerd shim of ours, then removes the pod cgroups.
func killContainers(c *config) error {
	for i := 0; i < 3; i++ {
		pids := podCgroupPids()
		pids = append(pids, procsMatching("containerd-shim", containerdSock(c))...)
		if len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(300 * time.Millisecond)
	}
	return removePodCgroups()
}

// podCgroupPids lists the processes in the kubepods cgroups of every v1
// hierarchy and of the unified one.
func podCgroupPids() []int {
	var pids []int
	seen := map[int]bool{}
	for _, root := range podCgroupRoots() {
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
				return nil
			}
			b, _ := os.ReadFile(p)
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil && !seen[pid] {
					seen[pid] = true
					pids = append(pids, pid)
				}
			}
			return nil
		})
	}
	return pids
}

func podCgroupRoots() []string {
	var roots []string
	for _, pattern := range []string{"/sys/fs/cgroup/*/kubepods", "/sys/fs/cgroup/kubepods", "/sys/fs/cgroup/*/kubepods.slice"} {
		m, _ := filepath.Glob(pattern)
		roots = append(roots, m...)
	}
	return roots
}

func removePodCgroups() error {
	var dirs []string
	for _, root := range podCgroupRoots() {
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
	}
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	var errs []error
	for _, d := range dirs {
		if err := syscall.Rmdir(d); err != nil && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("remove cgroup %s: %w", d, err))
		}
	}
	return errors.Join(errs...)
}

// cleanHost removes what the cluster left in the kernel and on disk.
func cleanHost(ctx context.Context, c *config) error {
	var errs []error
	errs = append(errs, unmountAll(c.StateDir, c.RunDir))
	if linkExists("cni0") {
		if _, err := runCmd(ctx, nil, "", "ip", "link", "delete", "cni0"); err != nil {
			errs = append(errs, err)
		}
	}
	for _, tool := range []string{"iptables", "ip6tables"} {
		errs = append(errs, removeOurRules(ctx, tool))
	}
	for _, t := range ourNftTables(ctx) {
		f := strings.Fields(t)
		if _, err := runCmd(ctx, nil, "", "nft", "delete", "table", f[0], f[1]); err != nil {
			errs = append(errs, err)
		}
	}
	for _, set := range ourSets(ctx) {
		_ = exec.CommandContext(ctx, "ipset", "destroy", set).Run()
	}
	if left := ourSets(ctx); len(left) > 0 {
		errs = append(errs, fmt.Errorf("ipsets left: %s", strings.Join(left, " ")))
	}
	errs = append(errs, restoreSysctls(c))
	if len(mountsUnder(c.StateDir, c.RunDir)) == 0 {
		errs = append(errs, os.RemoveAll(c.StateDir), os.RemoveAll(c.RunDir))
	}
	return errors.Join(errs...)
}

// clusterBinaries are the programs a cluster runs on the host.
var clusterBinaries = map[string]bool{
	"etcd": true, "kube-apiserver": true, "kube-controller-manager": true, "kube-scheduler": true,
	"kubelet": true, "kube-proxy": true, "kube-router": true, "containerd": true, "containerd-shim-runc-v2": true,
}

// clusterProcs lists the cluster's own programs whose command line mentions
// needle. Only known binaries count: a shell or editor whose command line
// happens to name the state dir is never killed.
func clusterProcs(needle string) []int {
	var out []int
	for _, pid := range procsMatching(needle) {
		if clusterBinaries[exeName(pid)] {
			out = append(out, pid)
		}
	}
	return out
}

func cmdlineOf(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return strings.ReplaceAll(string(b), "\x00", " ")
}

func exeName(pid int) string {
	return filepath.Base(strings.SplitN(cmdlineOf(pid), " ", 2)[0])
}

// verifyClean fails, listing every trace, unless the host carries nothing of
// a cluster: the check behind "cluster-down leaves nothing behind".
func verifyClean(c *config) error {
	ctx := context.Background()
	var traces []string
	for _, d := range stopOrder {
		if pid, ok := runningPid(c, d.name, d.bin); ok {
			traces = append(traces, fmt.Sprintf("process %s (pid %d)", d.name, pid))
		}
	}
	for _, pid := range append(clusterProcs(c.StateDir), clusterProcs(c.RunDir)...) {
		traces = append(traces, fmt.Sprintf("process %d: %s", pid, cmdlineOf(pid)))
	}
	for _, name := range []string{"kube-apiserver", "kubelet", "kube-proxy", "kube-router", "etcd", "kube-controller-manager", "kube-scheduler", "coredns", "tenantcheck-probe", "pause"} {
		for _, pid := range procsMatching(name) {
			if exeName(pid) == name {
				traces = append(traces, fmt.Sprintf("process %s (pid %d)", name, pid))
			}
		}
	}
	if pids := podCgroupPids(); len(pids) > 0 {
		traces = append(traces, fmt.Sprintf("processes in pod cgroups: %v", pids))
	}
	for _, mp := range mountsUnder(c.StateDir, c.RunDir) {
		traces = append(traces, "mount "+mp)
	}
	if linkExists("cni0") {
		traces = append(traces, "interface cni0")
	}
	for _, tool := range []string{"iptables", "ip6tables"} {
		for _, ch := range ourChains(ctx, tool) {
			traces = append(traces, tool+" chain "+ch)
		}
	}
	for _, t := range ourNftTables(ctx) {
		traces = append(traces, "nft table "+t)
	}
	for _, s := range ourSets(ctx) {
		traces = append(traces, "ipset "+s)
	}
	for _, s := range changedSysctls(c) {
		traces = append(traces, "sysctl "+s)
	}
	if exists(c.StateDir) {
		traces = append(traces, "state dir "+c.StateDir)
	}
	if len(traces) > 0 {
		return fmt.Errorf("the host is not clean:\n  %s", strings.Join(traces, "\n  "))
	}
	fmt.Println("clean: no cluster process, mount, cni0, iptables chain, nft table, ipset, changed sysctl or state left")
	return nil
}
