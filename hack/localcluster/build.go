package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// binaries are the paths of everything the cluster runs, all built from
// source and cached outside the checkout, keyed by version.
type binaries struct {
	K8sDir     string // kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy, kubectl
	Etcd       string
	CoreDNS    string
	KubeRouter string
	// Flux: kustomize-controller and the CRD manifests it and its sources need.
	KustomizeController string
	FluxCRDs            string // directory of CRD YAML files
}

func (b binaries) k8s(name string) string { return filepath.Join(b.K8sDir, name) }

var k8sCommands = []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubectl"}

// ensureBuilt builds whatever is missing from the cache and returns the paths.
// A second call with a warm cache builds nothing.
func ensureBuilt(ctx context.Context, c *config, s *steps) (binaries, error) {
	b := binaries{
		K8sDir:     filepath.Join(c.CacheDir, "bin", "kubernetes-"+c.K8sVersion),
		Etcd:       filepath.Join(c.CacheDir, "bin", "etcd-"+etcdVersion, "etcd"),
		CoreDNS:    filepath.Join(c.CacheDir, "bin", "coredns-"+corednsVersion, "coredns"),
		KubeRouter: filepath.Join(c.CacheDir, "bin", "kube-router-"+kubeRouterVersion, "kube-router"),
	}
	if err := buildKubernetes(ctx, c, s, b.K8sDir); err != nil {
		return b, err
	}
	if err := buildWrapped(ctx, c, s, "etcd", etcdVersion, b.Etcd, etcdModule); err != nil {
		return b, err
	}
	if err := buildWrapped(ctx, c, s, "coredns", corednsVersion, b.CoreDNS, corednsModule); err != nil {
		return b, err
	}
	if err := buildKubeRouter(ctx, c, s, b.KubeRouter); err != nil {
		return b, err
	}
	b.KustomizeController = filepath.Join(c.CacheDir, "bin", "kustomize-controller-"+fluxVersion, "kustomize-controller")
	b.FluxCRDs = filepath.Join(c.CacheDir, "flux-crds-"+fluxVersion)
	if err := buildKustomizeController(ctx, c, s, b.KustomizeController); err != nil {
		return b, err
	}
	if err := fetchFluxCRDs(ctx, c, s, b.FluxCRDs); err != nil {
		return b, err
	}
	return b, nil
}

func exists(path string) bool { _, err := os.Stat(path); return err == nil }

// goEnv is the environment for every build: static binaries, and a module
// graph that may be completed from the proxy (the wrapper modules have no
// committed go.sum: they are generated per version).
var goEnv = []string{"CGO_ENABLED=0", "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local"}

func buildKubernetes(ctx context.Context, c *config, s *steps, out string) error {
	stamp := filepath.Join(out, ".complete")
	if exists(stamp) {
		s.say("kubernetes %s: cached in %s", c.K8sVersion, out)
		return nil
	}
	s.say("kubernetes %s: building %s (cold: ~15 min on 2 cores)", c.K8sVersion, strings.Join(k8sCommands, ", "))
	dir := filepath.Join(c.CacheDir, "build", "kubernetes-"+c.K8sVersion)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	gomod, err := kubernetesGoMod(ctx, dir, c.K8sVersion)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
		return err
	}
	if _, err := runCmd(ctx, goEnv, dir, "go", "get", "k8s.io/kubernetes/cmd/kube-apiserver@"+c.K8sVersion); err != nil {
		return fmt.Errorf("resolve kubernetes %s: %w", c.K8sVersion, err)
	}
	minor := strings.Split(strings.TrimPrefix(c.K8sVersion, "v"), ".")[1]
	pkg := "k8s.io/component-base/version."
	ldflags := strings.Join([]string{"-s -w",
		"-X " + pkg + "gitVersion=" + c.K8sVersion, "-X " + pkg + "gitMajor=1", "-X " + pkg + "gitMinor=" + minor,
		"-X " + pkg + "gitTreeState=clean", "-X " + pkg + "buildDate=1970-01-01T00:00:00Z"}, " ")
	args := []string{"build", "-trimpath", "-ldflags", ldflags, "-o", out + "/"}
	for _, cmd := range k8sCommands {
		args = append(args, "k8s.io/kubernetes/cmd/"+cmd)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if _, err := runCmd(ctx, goEnv, dir, "go", args...); err != nil {
		return fmt.Errorf("build kubernetes %s: %w", c.K8sVersion, err)
	}
	s.say("kubernetes %s: built", c.K8sVersion)
	return os.WriteFile(stamp, []byte(c.K8sVersion+"\n"), 0o644)
}

// kubernetesGoMod writes a wrapper module that requires k8s.io/kubernetes and
// replaces every staging module (the "=> ./staging/..." lines of its own
// go.mod) with the published build of the same release.
func kubernetesGoMod(ctx context.Context, dir, version string) (string, error) {
	out, err := runCmd(ctx, nil, dir, "go", "mod", "download", "-json", "k8s.io/kubernetes@"+version)
	if err != nil {
		return "", fmt.Errorf("download k8s.io/kubernetes %s: %w", version, err)
	}
	var info struct{ GoMod string }
	if err := json.Unmarshal([]byte(out), &info); err != nil || info.GoMod == "" {
		return "", fmt.Errorf("read k8s.io/kubernetes %s module info: %v", version, err)
	}
	f, err := os.Open(info.GoMod)
	if err != nil {
		return "", err
	}
	defer f.Close()
	staging := k8sVersions[version]
	var b strings.Builder
	fmt.Fprintf(&b, "module tenantcheck.local/build/kubernetes\n\ngo 1.26.0\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n", version)
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 3 && fields[1] == "=>" && strings.HasPrefix(fields[2], "./staging/") {
			fmt.Fprintf(&b, "\t%s => %s %s\n", fields[0], fields[0], staging)
			n++
		}
	}
	if n == 0 {
		return "", fmt.Errorf("k8s.io/kubernetes %s: no staging replace directives found in %s", version, info.GoMod)
	}
	b.WriteString(")\n")
	return b.String(), sc.Err()
}

// A wrapped component is built from a tiny generated main package that calls
// the component's own entry point.
type wrapped struct {
	module  string // the Go module to require
	mainSrc string
}

var etcdModule = wrapped{
	module: "go.etcd.io/etcd/server/v3",
	mainSrc: `package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
`,
}

// CoreDNS with only the plugins the cluster's Corefile uses.
var corednsModule = wrapped{
	module: "github.com/coredns/coredns",
	mainSrc: `package main

import (
	"github.com/coredns/coredns/coremain"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
)

func main() { coremain.Run() }
`,
}

func buildWrapped(ctx context.Context, c *config, s *steps, name, version, out string, w wrapped) error {
	if exists(out) {
		s.say("%s %s: cached", name, version)
		return nil
	}
	s.say("%s %s: building", name, version)
	dir := filepath.Join(c.CacheDir, "build", name+"-"+version)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	gomod := fmt.Sprintf("module tenantcheck.local/build/%s\n\ngo 1.26.0\n\nrequire %s %s\n", name, w.module, version)
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(w.mainSrc), 0o644); err != nil {
		return err
	}
	if _, err := runCmd(ctx, goEnv, dir, "go", "mod", "tidy"); err != nil {
		return fmt.Errorf("resolve %s %s: %w", name, version, err)
	}
	tmp := out + ".tmp"
	if _, err := runCmd(ctx, goEnv, dir, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", tmp, "."); err != nil {
		return fmt.Errorf("build %s %s: %w", name, version, err)
	}
	s.say("%s %s: built", name, version)
	return os.Rename(tmp, out)
}

func buildKubeRouter(ctx context.Context, c *config, s *steps, out string) error {
	if exists(out) {
		s.say("kube-router %s: cached", kubeRouterVersion)
		return nil
	}
	s.say("kube-router %s: building", kubeRouterVersion)
	gobin := filepath.Dir(out)
	env := []string{"GOBIN=" + gobin, "CGO_ENABLED=0", "GOTOOLCHAIN=local"}
	if _, err := runCmd(ctx, env, c.CacheDir, "go", "install", "-trimpath", "-ldflags", "-s -w",
		"github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@"+kubeRouterVersion); err != nil {
		return fmt.Errorf("build kube-router %s: %w", kubeRouterVersion, err)
	}
	s.say("kube-router %s: built", kubeRouterVersion)
	return nil
}
