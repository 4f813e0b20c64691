package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// Sysctls that the cluster needs, or that kubelet and kube-proxy change. Their
// values before the first start are saved and restored at teardown.
var watchedSysctls = []string{
	"net.ipv4.ip_forward",
	"net.bridge.bridge-nf-call-iptables",
	"net.bridge.bridge-nf-call-ip6tables",
	"net.ipv4.conf.all.route_localnet",
	"kernel.panic",
	"kernel.panic_on_oops",
	"vm.overcommit_memory",
	"vm.panic_on_oom",
	"kernel.keys.root_maxkeys",
	"kernel.keys.root_maxbytes",
}

// Sysctls the cluster sets itself.
var neededSysctls = map[string]string{
	"net.ipv4.ip_forward":                "1",
	"net.bridge.bridge-nf-call-iptables": "1",
}

func sysctlPath(key string) string {
	return filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/"))
}

func readSysctl(key string) (string, error) {
	b, err := os.ReadFile(sysctlPath(key))
	return strings.TrimSpace(string(b)), err
}

func writeSysctl(key, value string) error {
	return os.WriteFile(sysctlPath(key), []byte(value), 0o644)
}

// The saved sysctls live outside the state dir: they must outlive a state
// dir that a killed cluster left half-removed.
func savedSysctlsFile(c *config) string { return c.StateDir + ".sysctls.json" }

// saveSysctls records the host's values once; a later save (a restart of a
// cluster that was killed) keeps the first, original values.
func saveSysctls(c *config) error {
	if exists(savedSysctlsFile(c)) {
		return nil
	}
	saved := map[string]string{}
	for _, k := range watchedSysctls {
		if v, err := readSysctl(k); err == nil {
			saved[k] = v
		}
	}
	b, _ := json.MarshalIndent(saved, "", "  ")
	return os.WriteFile(savedSysctlsFile(c), b, 0o644)
}

func restoreSysctls(c *config) error {
	b, err := os.ReadFile(savedSysctlsFile(c))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	saved := map[string]string{}
	if err := json.Unmarshal(b, &saved); err != nil {
		return fmt.Errorf("read saved sysctls %s: %w", savedSysctlsFile(c), err)
	}
	var errs []error
	for k, v := range saved {
		if cur, err := readSysctl(k); err == nil && cur != v {
			if err := writeSysctl(k, v); err != nil {
				errs = append(errs, fmt.Errorf("restore sysctl %s=%s: %w", k, v, err))
			}
		}
	}
	if len(errs) == 0 {
		return os.Remove(savedSysctlsFile(c))
	}
	return errors.Join(errs...)
}

// changedSysctls lists sysctls that differ from their saved values.
func changedSysctls(c *config) []string {
	b, err := os.ReadFile(savedSysctlsFile(c))
	if err != nil {
		return nil
	}
	saved := map[string]string{}
	_ = json.Unmarshal(b, &saved)
	var out []string
	for k, v := range saved {
		if cur, err := readSysctl(k); err == nil && cur != v {
			out = append(out, fmt.Sprintf("%s=%s (was %s)", k, cur, v))
		}
	}
	sort.Strings(out)
	return out
}

// mountsUnder lists mount points at or below any of dirs, deepest first.
func mountsUnder(dirs ...string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		for _, d := range dirs {
			if mp == d || strings.HasPrefix(mp, d+"/") {
				out = append(out, mp)
				break
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

func unescapeMount(s string) string {
	return strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`).Replace(s)
}

func unmountAll(dirs ...string) error {
	var errs []error
	for i := 0; i < 3; i++ {
		mps := mountsUnder(dirs...)
		if len(mps) == 0 {
			return nil
		}
		errs = nil
		for _, mp := range mps {
			if err := syscall.Unmount(mp, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
				errs = append(errs, fmt.Errorf("unmount %s: %w", mp, err))
			}
		}
	}
	if left := mountsUnder(dirs...); len(left) > 0 {
		errs = append(errs, fmt.Errorf("still mounted: %s", strings.Join(left, ", ")))
	}
	return errors.Join(errs...)
}

// linkExists says whether a network interface exists.
func linkExists(name string) bool { return exists(filepath.Join("/sys/class/net", name)) }

// ourChainPrefixes name the iptables chains that kube-proxy, kube-router and
// the CNI plugins create.
var ourChainPrefixes = []string{"KUBE-", "CNI-", "KUBE-ROUTER-"}

func isOurChain(name string) bool {
	for _, p := range ourChainPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// ourChains lists the cluster's iptables chains still present, as "table/chain".
func ourChains(ctx context.Context, tool string) []string {
	out, err := exec.CommandContext(ctx, tool+"-save").Output()
	if err != nil {
		return nil
	}
	var chains []string
	table := ""
	for _, line := range strings.Split(string(out), "\n") {
		switch {
		case strings.HasPrefix(line, "*"):
			table = line[1:]
		case strings.HasPrefix(line, ":"):
			name := strings.Fields(line[1:])[0]
			if isOurChain(name) {
				chains = append(chains, table+"/"+name)
			}
		}
	}
	return chains
}

// removeOurRules rewrites the iptables ruleset without the cluster's chains
// and every rule that jumps to them; the host's own rules stay as they were.
func removeOurRules(ctx context.Context, tool string) error {
	out, err := exec.CommandContext(ctx, tool+"-save").Output()
	if err != nil {
		return nil // no iptables: nothing of ours either
	}
	var keep []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, ":") && isOurChain(strings.Fields(line[1:])[0]) {
			continue
		}
		if strings.HasPrefix(line, "-A ") && mentionsOurChain(line) {
			continue
		}
		keep = append(keep, line)
	}
	cmd := exec.CommandContext(ctx, tool+"-restore")
	cmd.Stdin = strings.NewReader(strings.Join(keep, "\n"))
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s-restore: %w: %s", tool, err, b)
	}
	return nil
}

func mentionsOurChain(rule string) bool {
	f := strings.Fields(rule)
	for i, w := range f {
		if (i == 1 || (i > 0 && (f[i-1] == "-j" || f[i-1] == "-g"))) && isOurChain(w) {
			return true
		}
		if w == "--match-set" && i+1 < len(f) && isOurSet(f[i+1]) {
			return true
		}
	}
	return false
}

// ourSets lists ipsets made by kube-router.
func ourSets(ctx context.Context) []string {
	out, err := exec.CommandContext(ctx, "ipset", "list", "-n").Output()
	if err != nil {
		return nil
	}
	var sets []string
	for _, s := range strings.Fields(string(out)) {
		if isOurSet(s) {
			sets = append(sets, s)
		}
	}
	return sets
}

func isOurSet(s string) bool {
	return strings.HasPrefix(s, "KUBE-") || strings.HasPrefix(s, "kube-router-") || strings.HasPrefix(s, "inet6:KUBE-")
}

// ourNftTables lists nftables tables that kube-proxy or kube-router made.
func ourNftTables(ctx context.Context) []string {
	out, err := exec.CommandContext(ctx, "nft", "list", "tables").Output()
	if err != nil {
		return nil
	}
	var tables []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == "table" && (strings.HasPrefix(f[2], "kube-") || strings.HasPrefix(f[2], "kube_")) {
			tables = append(tables, f[1]+" "+f[2])
		}
	}
	return tables
}
