package podsecurity

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/tenantcheck/tenantcheck/internal/incluster"
	"github.com/tenantcheck/tenantcheck/internal/layer"
	"github.com/tenantcheck/tenantcheck/internal/layers"
	"github.com/tenantcheck/tenantcheck/internal/provision"
	"github.com/tenantcheck/tenantcheck/suites/suitekit"
)

// Must show 6: a run killed with SIGKILL while its privileged Deployment
// exists leaves it behind, with its namespaces; `tenantcheck cleanup`
// removes all of it, and so does the in-cluster sweep.
func TestKilledRunLeavesNothingAfterCleanup(t *testing.T) {
	f := features.New("SIGKILL mid-Pod-Security, then cleanup or the sweep").
		WithLabel("layer", "podsecurity").WithLabel("check", "cleanup").
		Assess("nothing of the run is left", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			c := suitekit.Client(ctx, t)
			bin := suitekit.BuildCLI(t)

			killMidWorkload(ctx, t, bin, cfg.KubeconfigFile(), c.Clientset)
			clean := exec.CommandContext(ctx, bin, "cleanup", "--older-than=0", "--kubeconfig", cfg.KubeconfigFile(), "--timeout", "2m")
			out, err := clean.CombinedOutput()
			require.NoError(t, err, "%s", out)
			assert.Contains(t, string(out), "clean: no namespace and no object labelled")
			assertNothingLeft(ctx, t, c.Clientset)

			killMidWorkload(ctx, t, bin, cfg.KubeconfigFile(), c.Clientset)
			dyn, err := dynamic.NewForConfig(c.Config)
			require.NoError(t, err)
			n, err := incluster.Sweep(ctx, c.Clientset, dyn, layer.Kinds(layers.All()), 0)
			require.NoError(t, err)
			assert.Positive(t, n, "the sweep found what the killed run left")
			require.NoError(t, wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
				return len(suitekit.LeftNamespaces(ctx, t)) == 0, nil
			}), "the swept namespaces are gone")
			assertNothingLeft(ctx, t, c.Clientset)
			return ctx
		}).Feature()
	testenv.Test(t, f)
}

// killMidWorkload starts a provision run of the Pod Security layer and
// kills it (SIGKILL: no cleanup runs) as soon as its privileged Deployment
// exists.
func killMidWorkload(ctx context.Context, t *testing.T, bin, kubeconfig string, cs kubernetes.Interface) {
	t.Helper()
	w, err := cs.AppsV1().Deployments("").Watch(ctx, metav1.ListOptions{LabelSelector: "tenantcheck.io/probe=tc-privileged-workload"})
	require.NoError(t, err)
	defer w.Stop()
	cmd := exec.Command(bin, "run", "--layers", "podsecurity", "--kubeconfig", kubeconfig)
	cmd.Env = os.Environ()
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			t.Log(sc.Text())
		}
	}()
	timeout := time.After(3 * time.Minute)
	for {
		select {
		case ev := <-w.ResultChan():
			if ev.Type != watch.Added {
				continue
			}
			require.NoError(t, cmd.Process.Kill())
			_ = cmd.Wait()
			t.Log("run killed with its privileged Deployment in place")
			require.NotEmpty(t, suitekit.LeftNamespaces(ctx, t), "a killed run leaves its namespaces")
			return
		case <-timeout:
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatal("the run never created its privileged Deployment")
		}
	}
}

// assertNothingLeft: no namespace, Deployment, ReplicaSet or pod of any run.
func assertNothingLeft(ctx context.Context, t *testing.T, cs kubernetes.Interface) {
	t.Helper()
	sel := metav1.ListOptions{LabelSelector: provision.Selector("")}
	assert.Empty(t, suitekit.LeftNamespaces(ctx, t))
	deps, err := cs.AppsV1().Deployments("").List(ctx, sel)
	require.NoError(t, err)
	assert.Empty(t, deps.Items, "no Deployment of a run is left")
	rss, err := cs.AppsV1().ReplicaSets("").List(ctx, sel)
	require.NoError(t, err)
	assert.Empty(t, rss.Items, "no ReplicaSet of a run is left")
	pods, err := cs.CoreV1().Pods("").List(ctx, sel)
	require.NoError(t, err)
	assert.Empty(t, pods.Items, "no pod of a run is left")
}
