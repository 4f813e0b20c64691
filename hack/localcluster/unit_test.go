package main

// Pure unit tests: they touch no process, mount, chain or file of the host.
// Their names start with TestUnit so that `go test -run 'Test[^L]'` (what
// `make test` runs here) picks them and leaves the TestLive* tests alone.
//
// This module has no testify on purpose (it keeps its own small go.mod), so
// these tests use the standard library only.

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

func TestUnitIsOurChain(t *testing.T) {
	tests := []struct {
		chain string
		want  bool
	}{
		{"KUBE-SERVICES", true},
		{"KUBE-SVC-ABCDEF0123456789", true},
		{"KUBE-ROUTER-INPUT", true},
		{"CNI-FORWARD", true},
		{"CNI-1a2b3c4d5e6f", true},
		{"INPUT", false},
		{"FORWARD", false},
		{"DOCKER-USER", false},
		{"kube-services", false},
		{"MY-KUBE-CHAIN", false},
		{"KUBE", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := isOurChain(tt.chain); got != tt.want {
			t.Errorf("isOurChain(%q) = %v, want %v", tt.chain, got, tt.want)
		}
	}
}

func TestUnitMentionsOurChain(t *testing.T) {
	tests := []struct {
		rule string
		want bool
	}{
		{`-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES`, true},
		{`-A INPUT -j KUBE-ROUTER-INPUT`, true},
		{`-A FORWARD -g CNI-FORWARD`, true},
		{`-A KUBE-FOO -p tcp -j ACCEPT`, true},
		{`-A CNI-abc -d 10.244.0.0/24 -j ACCEPT`, true},
		{`-A FORWARD -m set --match-set KUBE-DST-x dst -j ACCEPT`, true},
		{`-A FORWARD -m set --match-set inet6:KUBE-SRC-y src -j DROP`, true},
		{`-A KUBE-ROUTER-FORWARD -m set --match-set kube-router-pod-subnets src -j ACCEPT`, true},
		{`-A INPUT -j ACCEPT`, false},
		{`-A FORWARD -j DOCKER-USER`, false},
		{`-A POSTROUTING -s 10.0.0.0/8 -j MASQUERADE`, false},
		{`-A INPUT -m set --match-set blocklist src -j DROP`, false},
		// A chain name that is not a jump target does not make the rule ours.
		{`-A INPUT -m comment --comment KUBE-SERVICES -j ACCEPT`, false},
		{`-A INPUT -j`, false},
		{`-A INPUT -m set --match-set`, false},
		{``, false},
	}
	for _, tt := range tests {
		if got := mentionsOurChain(tt.rule); got != tt.want {
			t.Errorf("mentionsOurChain(%q) = %v, want %v", tt.rule, got, tt.want)
		}
	}
}

func TestUnitIsOurSet(t *testing.T) {
	tests := []struct {
		set  string
		want bool
	}{
		{"KUBE-DST-ABCDEF", true},
		{"KUBE-SRC-ABCDEF", true},
		{"kube-router-pod-subnets", true},
		{"kube-router-node-ips", true},
		{"inet6:KUBE-DST-ABCDEF", true},
		{"blocklist", false},
		{"docker-sets", false},
		{"kube-proxy", false},
		{"inet6:blocklist", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := isOurSet(tt.set); got != tt.want {
			t.Errorf("isOurSet(%q) = %v, want %v", tt.set, got, tt.want)
		}
	}
}

func TestUnitUnescapeMount(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{`/var/lib/tenantcheck-cluster/kubelet`, `/var/lib/tenantcheck-cluster/kubelet`},
		{`/mnt/with\040space`, "/mnt/with space"},
		{`/mnt/a\040b\040c`, "/mnt/a b c"},
		{`/mnt/tab\011here`, "/mnt/tab\there"},
		{`/mnt/new\012line`, "/mnt/new\nline"},
		{`/mnt/back\134slash`, `/mnt/back\slash`},
		// Unescaped once only: an escaped backslash followed by "040" stays.
		{`/mnt/a\134040b`, `/mnt/a\040b`},
		{``, ``},
	}
	for _, tt := range tests {
		if got := unescapeMount(tt.in); got != tt.want {
			t.Errorf("unescapeMount(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func sortedVersions() []string {
	var vs []string
	for v := range k8sVersions {
		vs = append(vs, v)
	}
	sort.Strings(vs)
	return vs
}

func TestUnitConfigValidate(t *testing.T) {
	supported := strings.Join(sortedVersions(), ", ")
	tests := []struct {
		name    string
		cfg     config
		wantErr string // "" means valid
	}{
		{"default version, enforcing", config{K8sVersion: defaultK8sVersion, Profile: profileEnforcing}, ""},
		{"unenforced", config{K8sVersion: defaultK8sVersion, Profile: profileUnenforced}, ""},
		{"unsupported version", config{K8sVersion: "v1.20.0", Profile: profileEnforcing},
			`unsupported K8S_VERSION "v1.20.0": supported are ` + supported},
		{"version without v", config{K8sVersion: strings.TrimPrefix(defaultK8sVersion, "v"), Profile: profileEnforcing},
			`unsupported K8S_VERSION "` + strings.TrimPrefix(defaultK8sVersion, "v") + `"`},
		{"empty version", config{Profile: profileEnforcing}, `unsupported K8S_VERSION ""`},
		{"unknown profile", config{K8sVersion: defaultK8sVersion, Profile: "permissive"},
			`unknown PROFILE "permissive": use enforcing or unenforced`},
		{"version checked first", config{K8sVersion: "v0", Profile: "x"}, `unsupported K8S_VERSION "v0"`},
		{"drop", config{K8sVersion: defaultK8sVersion, Profile: profileEnforcing, Deny: denyDrop}, ""},
		{"unknown deny", config{K8sVersion: defaultK8sVersion, Profile: profileEnforcing, Deny: "silently"},
			`unknown DENY "silently": use reject or drop`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("validate() = %v, want no error", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("validate() = nil, want an error containing %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("validate() = %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}

	for _, v := range sortedVersions() {
		c := config{K8sVersion: v, Profile: profileEnforcing}
		if err := c.validate(); err != nil {
			t.Errorf("supported version %s rejected: %v", v, err)
		}
	}
	if !slices.Contains(sortedVersions(), defaultK8sVersion) {
		t.Errorf("the default version %s is not supported", defaultK8sVersion)
	}
}

func TestUnitParseFlags(t *testing.T) {
	for _, k := range []string{"TENANTCHECK_CLUSTER_DIR", "TENANTCHECK_CLUSTER_RUN", "TENANTCHECK_CACHE", "TENANTCHECK_REPO", "PROFILE", "K8S_VERSION", "NO_PSA", "FLUX", "FLUX_LOCKDOWN"} {
		t.Setenv(k, "")
	}
	cmd, c, err := parseFlags([]string{"status", "--state-dir", "/tmp/tc-state", "--repo", "/src/tenantcheck"})
	if err != nil {
		t.Fatalf("parseFlags: %v", err)
	}
	if cmd != "status" || c.StateDir != "/tmp/tc-state" || c.RepoRoot != "/src/tenantcheck" ||
		c.K8sVersion != defaultK8sVersion || c.Profile != profileEnforcing || c.NoPSA || !c.Flux || !c.FluxLockdown {
		t.Errorf("parseFlags = %q %+v", cmd, c)
	}
	if got := c.kubeconfig(); got != "/tmp/tc-state/admin.kubeconfig" {
		t.Errorf("kubeconfig() = %q", got)
	}

	t.Setenv("K8S_VERSION", "v9.9.9")
	if _, _, err := parseFlags([]string{"up"}); err == nil || !strings.Contains(err.Error(), `unsupported K8S_VERSION "v9.9.9"`) {
		t.Errorf("K8S_VERSION from the environment is validated: got %v", err)
	}
	t.Setenv("K8S_VERSION", "")
	t.Setenv("PROFILE", profileUnenforced)
	t.Setenv("NO_PSA", "1")
	t.Setenv("FLUX", "0")
	t.Setenv("FLUX_LOCKDOWN", "0")
	_, c, err = parseFlags([]string{"up"})
	if err != nil || c.Profile != profileUnenforced || !c.NoPSA || c.Flux || c.FluxLockdown {
		t.Errorf("environment defaults: %+v, %v", c, err)
	}
	if _, _, err := parseFlags(nil); err == nil || !strings.Contains(err.Error(), "missing command") {
		t.Errorf("no command: got %v", err)
	}
}

func TestUnitCNIConfig(t *testing.T) {
	c := &config{StateDir: `/var/lib/tc "state" dir`}
	raw := cniConfig(c)
	var conf struct {
		CNIVersion string `json:"cniVersion"`
		Name       string `json:"name"`
		Plugins    []struct {
			Type   string `json:"type"`
			Bridge string `json:"bridge"`
			IPMasq *bool  `json:"ipMasq"`
			IPAM   struct {
				Type   string `json:"type"`
				Ranges [][]struct {
					Subnet string `json:"subnet"`
				} `json:"ranges"`
				Routes []struct {
					Dst string `json:"dst"`
				} `json:"routes"`
				DataDir string `json:"dataDir"`
			} `json:"ipam"`
		} `json:"plugins"`
	}
	if err := json.Unmarshal([]byte(raw), &conf); err != nil {
		t.Fatalf("cniConfig is not valid JSON: %v\n%s", err, raw)
	}
	if len(conf.Plugins) != 2 || conf.Plugins[0].Type != "bridge" || conf.Plugins[1].Type != "portmap" {
		t.Fatalf("plugins: %+v", conf.Plugins)
	}
	br := conf.Plugins[0]
	if br.Bridge != "cni0" || br.IPMasq == nil || *br.IPMasq {
		t.Errorf("bridge cni0 without masquerade: %+v", br)
	}
	if len(br.IPAM.Ranges) != 1 || len(br.IPAM.Ranges[0]) != 1 || br.IPAM.Ranges[0][0].Subnet != podCIDR {
		t.Errorf("ranges = %+v, want the pod subnet %s", br.IPAM.Ranges, podCIDR)
	}
	var routes []string
	for _, r := range br.IPAM.Routes {
		routes = append(routes, r.Dst)
	}
	if !slices.Equal(routes, []string{clusterCIDR, serviceCIDR}) {
		t.Errorf("routes = %v, want %s and %s", routes, clusterCIDR, serviceCIDR)
	}
	if want := filepath.Join(c.StateDir, "cni", "ipam"); br.IPAM.DataDir != want {
		t.Errorf("dataDir = %q, want %q", br.IPAM.DataDir, want)
	}
	if conf.CNIVersion == "" || conf.Name != "tenantcheck" {
		t.Errorf("cniVersion %q, name %q", conf.CNIVersion, conf.Name)
	}
}

func TestUnitKubeletConfig(t *testing.T) {
	c := &config{StateDir: "/var/lib/tc-state", RunDir: "/run/tc"}
	y := kubeletConfig(c)
	lines := map[string]bool{}
	for _, l := range strings.Split(y, "\n") {
		lines[strings.TrimSpace(l)] = true
	}
	for _, want := range []string{
		"kind: KubeletConfiguration",
		"failCgroupV1: false",
		"cgroupDriver: cgroupfs",
		"failSwapOn: false",
		"podCIDR: " + podCIDR,
		"clusterDNS: [" + dnsServiceIP + "]",
		"clusterDomain: " + clusterDomain,
	} {
		if !lines[want] {
			t.Errorf("kubelet config lacks the line %q:\n%s", want, y)
		}
	}
	if !strings.Contains(y, `clientCAFile: "/var/lib/tc-state/pki/ca.crt"`) {
		t.Errorf("kubelet config does not trust the cluster CA:\n%s", y)
	}
	if strings.Contains(y, "%!") || strings.Contains(y, "%%") {
		t.Errorf("kubelet config has a formatting error:\n%s", y)
	}
	if !strings.Contains(y, `nodefs.available: "1%"`) {
		t.Errorf("eviction thresholds are not rendered as percentages:\n%s", y)
	}
}

func TestUnitFluxManifest(t *testing.T) {
	locked := fluxManifest(true)
	for _, want := range []string{`"--no-cross-namespace-refs=true", "--no-remote-bases=true", "--default-service-account=default"`,
		`"--watch-all-namespaces=true"`, `"--feature-gates=ExternalArtifact=true"`, `"--enable-leader-election=false"`,
		"image: " + kcImage, "name: manager", "type: Recreate", "name: cluster-admin"} {
		if !strings.Contains(locked, want) {
			t.Errorf("locked-down manifest lacks %s", want)
		}
	}
	open := fluxManifest(false)
	for _, flag := range fluxLockdownArgs {
		if strings.Contains(open, flag) {
			t.Errorf("FLUX_LOCKDOWN=0 manifest still has %s", flag)
		}
	}
	if !strings.Contains(open, `"--feature-gates=ExternalArtifact=true"`) {
		t.Error("the ExternalArtifact gate is on in both")
	}
}
