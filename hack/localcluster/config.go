package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Profiles of the cluster. enforcing runs kube-router's NetworkPolicy
// firewall; unenforced accepts NetworkPolicy objects and ignores them, the
// failure the multi-tenancy guide warns about.
const (
	profileEnforcing  = "enforcing"
	profileUnenforced = "unenforced"
)

// defaultK8sVersion is the Kubernetes release started when K8S_VERSION is unset.
const defaultK8sVersion = "v1.37.2"

// k8sVersions maps each supported Kubernetes release to the version of its
// published staging modules (k8s.io/api and friends).
var k8sVersions = map[string]string{
	"v1.34.4": "v0.34.4",
	"v1.35.4": "v0.35.4",
	"v1.36.3": "v0.36.3",
	"v1.37.2": "v0.37.2",
}

// Versions of the other components; each is the one measured to build here.
const (
	etcdVersion       = "v3.6.16"
	corednsVersion    = "v1.15.0"
	kubeRouterVersion = "v2.1.0"
)

// Network layout of the cluster. The pod and service ranges stay clear of the
// host's own addresses; the node IP is the host's primary address.
const (
	nodeName      = "tenantcheck-node"
	podCIDR       = "10.244.0.0/24"
	clusterCIDR   = "10.244.0.0/16"
	serviceCIDR   = "10.96.0.0/16"
	apiServiceIP  = "10.96.0.1"
	dnsServiceIP  = "10.96.0.10"
	clusterDomain = "cluster.local"
	apiPort       = 6443
	etcdPort      = 2379
)

// config is everything one invocation needs to know.
type config struct {
	StateDir   string // cluster state: PKI, etcd data, kubelet and containerd roots, logs
	RunDir     string // sockets and pid files
	CacheDir   string // built binaries and images, keyed by version; survives cluster-down
	RepoRoot   string // the tenantcheck checkout, for the probe image
	Profile    string
	K8sVersion string
	NoPSA      bool // run kube-apiserver without the PodSecurity admission plugin
	// Deny: how denied connections fail, reject (kube-router's way) or drop
	// (as on Calico, Cilium, kindnetd); see deny.go.
	Deny string
	// Flux: install kustomize-controller and the Flux CRDs (FLUX=0 removes
	// them), with the guide's lockdown flags unless FLUX_LOCKDOWN=0.
	Flux         bool
	FluxLockdown bool
}

func (c *config) kubeconfig() string { return filepath.Join(c.StateDir, "admin.kubeconfig") }
func (c *config) pki(name string) string {
	return filepath.Join(c.StateDir, "pki", name)
}
func (c *config) logFile(name string) string {
	return filepath.Join(c.StateDir, "logs", name+".log")
}

func supportedVersions() string {
	vs := make([]string, 0, len(k8sVersions))
	for v := range k8sVersions {
		vs = append(vs, v)
	}
	sort.Strings(vs)
	return strings.Join(vs, ", ")
}

func (c *config) validate() error {
	if _, ok := k8sVersions[c.K8sVersion]; !ok {
		return fmt.Errorf("unsupported K8S_VERSION %q: supported are %s", c.K8sVersion, supportedVersions())
	}
	if c.Profile != profileEnforcing && c.Profile != profileUnenforced {
		return fmt.Errorf("unknown PROFILE %q: use %s or %s", c.Profile, profileEnforcing, profileUnenforced)
	}
	if c.Deny == "" {
		c.Deny = denyReject
	}
	if c.Deny != denyReject && c.Deny != denyDrop {
		return fmt.Errorf("unknown DENY %q: use %s or %s", c.Deny, denyReject, denyDrop)
	}
	return nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

const usage = `usage: localcluster <command> [flags]

commands:
  up         start the cluster (a no-op when it already runs as asked; switches profile and Flux in place)
  down       stop everything and remove all state but the build cache
  status     print what runs and where the kubeconfig is
  upgrade    restart the control plane and kubelet on --k8s-version, keeping etcd data and pods
  verify-clean  fail unless no trace of a cluster is left (processes, mounts, cni0, chains, ipsets)
  build      only build (or find cached) binaries and images

flags (environment in brackets):
`

func parseFlags(args []string) (string, *config, error) {
	if len(args) == 0 {
		return "", nil, errors.New("missing command\n" + usage)
	}
	cmd := args[0]
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	c := &config{}
	fs.StringVar(&c.StateDir, "state-dir", envOr("TENANTCHECK_CLUSTER_DIR", "/var/lib/tenantcheck-cluster"), "cluster state [TENANTCHECK_CLUSTER_DIR]")
	fs.StringVar(&c.RunDir, "run-dir", envOr("TENANTCHECK_CLUSTER_RUN", "/run/tenantcheck-cluster"), "sockets and pid files [TENANTCHECK_CLUSTER_RUN]")
	fs.StringVar(&c.CacheDir, "cache-dir", envOr("TENANTCHECK_CACHE", "/var/cache/tenantcheck"), "binary cache [TENANTCHECK_CACHE]")
	fs.StringVar(&c.RepoRoot, "repo", envOr("TENANTCHECK_REPO", "../.."), "tenantcheck checkout, for the probe image")
	fs.StringVar(&c.Profile, "profile", envOr("PROFILE", profileEnforcing), "enforcing or unenforced [PROFILE]")
	fs.StringVar(&c.K8sVersion, "k8s-version", envOr("K8S_VERSION", defaultK8sVersion), "Kubernetes version [K8S_VERSION]")
	fs.StringVar(&c.Deny, "deny", envOr("DENY", denyReject), "how denied connections fail: reject (refused at once) or drop (time out, as on Calico) [DENY]")
	fs.BoolVar(&c.NoPSA, "no-psa", os.Getenv("NO_PSA") == "1", "run the API server without PodSecurity admission [NO_PSA=1]")
	fs.BoolVar(&c.Flux, "flux", os.Getenv("FLUX") != "0", "install Flux's kustomize-controller; false removes it [FLUX=0]")
	fs.BoolVar(&c.FluxLockdown, "flux-lockdown", os.Getenv("FLUX_LOCKDOWN") != "0",
		"run kustomize-controller with --no-cross-namespace-refs, --no-remote-bases, --default-service-account [FLUX_LOCKDOWN=0: without]")
	fs.Usage = func() { fmt.Fprint(os.Stderr, usage); fs.PrintDefaults() }
	if err := fs.Parse(args[1:]); err != nil {
		return "", nil, err
	}
	if err := c.validate(); err != nil {
		return "", nil, err
	}
	root, err := filepath.Abs(c.RepoRoot)
	if err != nil {
		return "", nil, fmt.Errorf("repo path: %w", err)
	}
	c.RepoRoot = root
	return cmd, c, nil
}

func run(ctx context.Context, args []string) error {
	cmd, c, err := parseFlags(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	switch cmd {
	case "up":
		return up(ctx, c)
	case "down":
		return down(ctx, c)
	case "status":
		return status(ctx, c)
	case "upgrade":
		return upgrade(ctx, c)
	case "verify-clean":
		return verifyClean(c)
	case "build":
		_, err := ensureBuilt(ctx, c, newSteps())
		return err
	default:
		return fmt.Errorf("unknown command %q\n%s", cmd, usage)
	}
}
