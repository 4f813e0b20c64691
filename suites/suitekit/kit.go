// Package suitekit is what the live suites share: the e2e-framework
// environment for the cluster under test, and a way to run tenantcheck's
// engine from a feature exactly as the CLI runs it.
//
// The suites run against the cluster of --kubeconfig or KUBECONFIG (a kind
// cluster with Calico in CI, the project's local cluster in `make test`).
// Without a reachable cluster they fail loudly; they never skip past it.
package suitekit

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/e2e-framework/pkg/env"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/envfuncs"
	"sigs.k8s.io/e2e-framework/support/kind"
	"sigs.k8s.io/yaml"

	"github.com/tenantcheck/tenantcheck/internal/kube"
	"github.com/tenantcheck/tenantcheck/internal/layer"
	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/internal/provision"
	"github.com/tenantcheck/tenantcheck/internal/runner"
	"github.com/tenantcheck/tenantcheck/internal/spec"
)

type clientKey struct{}

// NewEnv builds the suite's environment from the e2e-framework flags
// (--kubeconfig, --labels, ...) or KUBECONFIG, and a setup step that fails
// the whole suite at once when the cluster cannot be reached.
func NewEnv() env.Environment {
	cfg, err := envconf.NewFromFlags()
	if err != nil {
		fmt.Fprintf(os.Stderr, "suite flags: %v\n", err)
		os.Exit(2)
	}
	if cfg.KubeconfigFile() == "" {
		cfg.WithKubeconfigFile(os.Getenv("KUBECONFIG"))
	}
	e := env.NewWithConfig(cfg)
	if kindConfig := os.Getenv("TENANTCHECK_KIND_CONFIG"); kindConfig != "" {
		useKind(e, kindConfig)
	}
	e.Setup(func(ctx context.Context, cfg *envconf.Config) (context.Context, error) {
		c, err := kube.Load(kube.Options{Kubeconfig: cfg.KubeconfigFile()})
		if err != nil {
			return ctx, fmt.Errorf("no cluster for the live suite (set KUBECONFIG or --kubeconfig; `make cluster-up` starts one): %w", err)
		}
		if _, err := c.ServerVersion(ctx); err != nil {
			return ctx, fmt.Errorf("no cluster for the live suite: %w", err)
		}
		return context.WithValue(ctx, clientKey{}, c), nil
	})
	return e
}

// useKind makes the suite create its own kind cluster from configPath
// (kind-config/calico.yaml), install the CNI manifest of
// TENANTCHECK_CNI_MANIFEST when set, load the probe image, and delete the
// cluster at the end. It needs Docker and the kind binary: CI on a machine
// that has them; `make kind-test` is the usual way in.
func useKind(e env.Environment, configPath string) {
	name := "tenantcheck-suite"
	e.Setup(envfuncs.CreateClusterWithConfig(kind.NewProvider(), name, configPath))
	if manifest := os.Getenv("TENANTCHECK_CNI_MANIFEST"); manifest != "" {
		e.Setup(func(ctx context.Context, cfg *envconf.Config) (context.Context, error) {
			for _, args := range [][]string{
				{"apply", "-f", manifest},
				{"-n", "kube-system", "rollout", "status", "daemonset/calico-node", "--timeout=5m"},
			} {
				cmd := exec.CommandContext(ctx, "kubectl", append([]string{"--kubeconfig", cfg.KubeconfigFile()}, args...)...)
				if out, err := cmd.CombinedOutput(); err != nil {
					return ctx, fmt.Errorf("install the CNI: kubectl %v: %w\n%s", args, err, out)
				}
			}
			return ctx, nil
		})
	}
	if img := os.Getenv("TENANTCHECK_PROBE_IMAGE"); img != "" {
		e.Setup(envfuncs.LoadImageToCluster(name, img))
	}
	e.Finish(envfuncs.DestroyCluster(name))
}

// Client is the suite's cluster client, set up by NewEnv.
func Client(ctx context.Context, t *testing.T) *kube.Client {
	t.Helper()
	c, ok := ctx.Value(clientKey{}).(*kube.Client)
	if !ok {
		t.Fatal("no cluster client in the context: NewEnv's setup did not run")
	}
	return c
}

// Options are the runner options the CLI would use, with the probe image
// from TENANTCHECK_PROBE_IMAGE / TENANTCHECK_IMAGE_PULL_POLICY as in the CLI.
func Options(t testing.TB) runner.Options {
	img := os.Getenv("TENANTCHECK_PROBE_IMAGE")
	if img == "" {
		t.Fatal("TENANTCHECK_PROBE_IMAGE is not set: the suite must know which probe image the cluster can run")
	}
	pull := corev1.PullPolicy(os.Getenv("TENANTCHECK_IMAGE_PULL_POLICY"))
	return runner.Options{
		Layers:   []model.Layer{model.LayerNetwork},
		Version:  "suite",
		Progress: testWriter{t},
		Probe:    layer.ProbeSettings{Image: img, PullPolicy: string(pull), Retries: 2},
	}
}

// Execute runs the engine and fails the test when the run could not be done.
func Execute(ctx context.Context, t *testing.T, opts runner.Options) *model.Report {
	t.Helper()
	rep, err := runner.Execute(ctx, Client(ctx, t), opts)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return rep
}

// LeftNamespaces lists tenantcheck's namespaces still in the cluster.
func LeftNamespaces(ctx context.Context, t *testing.T) []string {
	t.Helper()
	l, err := Client(ctx, t).Clientset.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: provision.Selector("")})
	if err != nil {
		t.Fatalf("list namespaces: %v", err)
	}
	var out []string
	for _, ns := range l.Items {
		if provision.RunOwned(&ns) { // not a namespace someone else labelled as tenantcheck's
			out = append(out, ns.Name)
		}
	}
	return out
}

// RepoRoot is the checkout the suite runs from.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// BuildCLI builds the tenantcheck binary into a temporary directory.
func BuildCLI(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tenantcheck")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/tenantcheck")
	cmd.Dir = RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build tenantcheck: %v\n%s", err, out)
	}
	return bin
}

// Deny is how the local cluster fails denied connections in this suite run
// (TENANTCHECK_DENY: reject or drop; "" when not set).
func Deny() string { return os.Getenv("TENANTCHECK_DENY") }

// LocalCluster says whether the suite runs on the project's local cluster,
// whose NetworkPolicy enforcer can be switched off (PROFILE=unenforced).
func LocalCluster() bool { return os.Getenv("TENANTCHECK_LOCAL_CLUSTER") == "1" }

// NeedLocalCluster is the gate of a feature that only the project's local
// cluster can show (a profile, a switch, an injected fault): elsewhere (kind,
// a real cluster) the test skips, saying why; under CI, which always runs
// the suites on the local cluster, a missing TENANTCHECK_LOCAL_CLUSTER=1 is a
// failure, never a skip.
func NeedLocalCluster(t *testing.T, why string) {
	t.Helper()
	if LocalCluster() {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("CI runs the suites on the local cluster, but TENANTCHECK_LOCAL_CLUSTER is not 1: %s", why)
	}
	t.Skip(why + " (TENANTCHECK_LOCAL_CLUSTER=1)")
}

// SetProfile switches the local cluster's profile in place (with PodSecurity
// admission on).
func SetProfile(t *testing.T, profile string) { setLocal(t, "PROFILE="+profile) }

// SetPodSecurityAdmission restarts the local cluster's API server with or
// without the PodSecurity admission plugin (profile enforcing).
func SetPodSecurityAdmission(t *testing.T, on bool) {
	if on {
		setLocal(t, "NO_PSA=0")
	} else {
		setLocal(t, "NO_PSA=1")
	}
}

// SetFluxLockdown redeploys the local cluster's kustomize-controller with or
// without the lockdown flags (--no-cross-namespace-refs, --no-remote-bases,
// --default-service-account) and waits for the rollout.
func SetFluxLockdown(t *testing.T, on bool) {
	if on {
		setLocal(t, "FLUX_LOCKDOWN=1")
	} else {
		setLocal(t, "FLUX_LOCKDOWN=0")
	}
}

// SetFluxInstalled installs Flux on the local cluster (kustomize-controller
// and the Flux CRDs, locked down) or removes it entirely.
func SetFluxInstalled(t *testing.T, on bool) {
	if on {
		setLocal(t, "FLUX=1")
	} else {
		setLocal(t, "FLUX=0")
	}
}

func setLocal(t *testing.T, profile string) {
	t.Helper()
	args := []string{"--no-print-directory", "cluster-up", profile}
	if deny := Deny(); deny != "" {
		args = append(args, "DENY="+deny) // a switch keeps how denied connections fail
	}
	cmd := exec.Command("make", args...)
	cmd.Dir = RepoRoot()
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("switch the local cluster to %s: %v\n%s", profile, err, out)
	}
	t.Logf("local cluster switched to %s in %s", profile, time.Since(start).Round(time.Millisecond))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p[:len(p)-min(1, len(p))]))
	return len(p), nil
}

// WatchUnsafePods watches every pod created while it runs and returns a
// function that stops the watch and lists the pods that would have been
// rejected by Pod Security "baseline" (privileged, host namespaces,
// hostPath): the proof that a run never persists one.
func WatchUnsafePods(ctx context.Context, t *testing.T) func() []string {
	t.Helper()
	w, err := Client(ctx, t).Clientset.CoreV1().Pods("").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("watch pods: %v", err)
	}
	found := make(chan []string, 1)
	go func() {
		var unsafe []string
		for ev := range w.ResultChan() {
			if p, ok := ev.Object.(*corev1.Pod); ok && p.Namespace != "kube-system" && unsafePod(p) {
				unsafe = append(unsafe, p.Namespace+"/"+p.Name)
			}
		}
		found <- unsafe
	}()
	return func() []string {
		w.Stop()
		return <-found
	}
}

func unsafePod(p *corev1.Pod) bool {
	if p.Spec.HostNetwork || p.Spec.HostPID || p.Spec.HostIPC {
		return true
	}
	for _, v := range p.Spec.Volumes {
		if v.HostPath != nil {
			return true
		}
	}
	for _, c := range p.Spec.Containers {
		if c.SecurityContext != nil && c.SecurityContext.Privileged != nil && *c.SecurityContext.Privileged {
			return true
		}
	}
	return false
}

// Verdicts maps each check of a report to its verdict.
func Verdicts(r *model.Report) map[string]model.Verdict {
	out := map[string]model.Verdict{}
	for _, res := range r.Results {
		out[res.CheckID] = res.Verdict
	}
	return out
}

// DeployClusterRole is the ClusterRole deploy/base ships for the CronJob.
func DeployClusterRole(t *testing.T) *rbacv1.ClusterRole {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(RepoRoot(), "deploy", "base", "rbac.yaml"))
	if err != nil {
		t.Fatalf("read deploy/base/rbac.yaml: %v", err)
	}
	for _, doc := range strings.Split(string(data), "\n---\n") {
		var cr rbacv1.ClusterRole
		if err := yaml.Unmarshal([]byte(doc), &cr); err == nil && cr.Kind == "ClusterRole" {
			return &cr
		}
	}
	t.Fatal("deploy/base/rbac.yaml has no ClusterRole")
	return nil
}

// ApplyFixture creates the objects of suites/fixtures/<name>.yaml, a
// realistic tenant variant, in the run's tenants: ${A} and ${B} become the
// run's namespaces of tenant-a-prod and tenant-b-prod, ${IMAGE} the probe
// image. An object the tenant already has under that name is replaced.
// Everything it created is deleted when the test ends. It is meant for an
// AfterProvision hook, and shells out to kubectl as a platform team would.
func ApplyFixture(ctx context.Context, t *testing.T, r *runner.Run, name string) error {
	t.Helper()
	return ApplyFixtureTo(ctx, t, name, r.Namespace("tenant-a-prod"), r.Namespace("tenant-b-prod"))
}

// ApplyFixtureTo is ApplyFixture with ${A} and ${B} named: for tenants an
// audit suite set up itself.
func ApplyFixtureTo(ctx context.Context, t *testing.T, name, a, b string) error {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(RepoRoot(), "suites", "fixtures", name+".yaml"))
	if err != nil {
		return fmt.Errorf("fixture %s: %w", name, err)
	}
	doc := strings.NewReplacer("${A}", a, "${B}", b, "${IMAGE}", os.Getenv("TENANTCHECK_PROBE_IMAGE")).Replace(string(data))
	c := Client(ctx, t)
	kubectl := func(ctx context.Context, args ...string) error {
		base := []string{}
		if c.Kubeconfig != "" {
			base = append(base, "--kubeconfig", c.Kubeconfig)
		}
		cmd := exec.CommandContext(ctx, "kubectl", append(base, args...)...)
		cmd.Stdin = strings.NewReader(doc)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("fixture %s: kubectl %s: %w\n%s", name, strings.Join(args, " "), err, out)
		}
		return nil
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := kubectl(ctx, "delete", "--ignore-not-found", "--wait=false", "-f", "-"); err != nil {
			t.Logf("clean up: %v", err)
		}
	})
	if err := kubectl(ctx, "delete", "--ignore-not-found", "-f", "-"); err != nil {
		return err
	}
	if err := kubectl(ctx, "create", "-f", "-"); err != nil {
		return err
	}
	t.Logf("fixture %s applied", name)
	return nil
}

// Fixtures is an AfterProvision hook that applies the named fixtures.
func Fixtures(t *testing.T, names ...string) func(context.Context, kubernetes.Interface, *runner.Run) error {
	return func(ctx context.Context, _ kubernetes.Interface, r *runner.Run) error {
		for _, n := range names {
			if err := ApplyFixture(ctx, t, r, n); err != nil {
				return err
			}
		}
		return nil
	}
}

// TenantsSpec is the guide's baseline with n tenants (t01..tNN, one
// namespace each) and its shared namespace allowed into all of them.
func TenantsSpec(n int) *spec.Spec {
	s := spec.Default()
	s.Tenants = nil
	var names []string
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("t%02d", i)
		names = append(names, name)
		s.Tenants = append(s.Tenants, spec.Tenant{Name: name, Namespaces: []string{name + "-prod"}})
	}
	s.Shared[0].AllowedTo = names
	return s
}
