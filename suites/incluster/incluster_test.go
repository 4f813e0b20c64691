package incluster

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/tenantcheck/tenantcheck/internal/baseline"
	"github.com/tenantcheck/tenantcheck/internal/incluster"
	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/internal/policyreport"
	"github.com/tenantcheck/tenantcheck/internal/provision"
	"github.com/tenantcheck/tenantcheck/internal/spec"
	"github.com/tenantcheck/tenantcheck/suites/suitekit"
)

const (
	sysNS      = "tenantcheck-system"
	suiteLabel = "tenantcheck.io/incluster-suite"
)

func kubectl(t *testing.T, cfg *envconf.Config, args ...string) string {
	t.Helper()
	cmd := exec.Command("kubectl", append([]string{"--kubeconfig", cfg.KubeconfigFile()}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	require.NoError(t, cmd.Run(), "kubectl %v: %s", args, errb.String())
	return out.String()
}

// guideTenants applies the guide's manifests to two labelled tenant
// namespaces, as a platform team would; the suite removes them.
func guideTenants(ctx context.Context, t *testing.T, cs kubernetes.Interface) *spec.Spec {
	s := spec.Default()
	s.Tenants[0].Namespaces = []string{"incluster-tenant-a"}
	s.Tenants[1].Namespaces = []string{"incluster-tenant-b"}
	s.Shared = nil
	version, err := suitekit.Client(ctx, t).ServerVersion(ctx)
	require.NoError(t, err)
	// Pinned as tenantcheck's namespace layer asks, so the CronJob's run holds.
	plan, err := baseline.ForSpec(s, map[string]string{suiteLabel: "yes"}, baseline.PSAVersionOf(version))
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = provision.Cleanup(context.Background(), cs, suiteLabel+"=yes", 2*time.Minute) })
	require.NoError(t, provision.Create(ctx, cs, plan.List()))
	return s
}

func waitJob(ctx context.Context, t *testing.T, cs kubernetes.Interface, name string) *batchv1.Job {
	var job *batchv1.Job
	last := "not found yet"
	err := wait.PollUntilContextTimeout(ctx, time.Second, 4*time.Minute, true, func(ctx context.Context) (bool, error) {
		j, err := cs.BatchV1().Jobs(sysNS).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		job = j
		last = fmt.Sprintf("status %+v", j.Status)
		if pods, err := cs.CoreV1().Pods(sysNS).List(ctx, metav1.ListOptions{LabelSelector: "job-name=" + name}); err == nil {
			for _, p := range pods.Items {
				last += fmt.Sprintf("; pod %s %s %s", p.Name, p.Status.Phase, p.Status.Message)
			}
		}
		return j.Status.Succeeded > 0 || j.Status.Failed > 0, nil
	})
	require.NoError(t, err, "job %s did not finish: %s", name, last)
	return job
}

// exitCodeOf is the exit code of the Job's (only) pod's container.
func exitCodeOf(ctx context.Context, t *testing.T, cs kubernetes.Interface, job string) int32 {
	pods, err := cs.CoreV1().Pods(sysNS).List(ctx, metav1.ListOptions{LabelSelector: "job-name=" + job})
	require.NoError(t, err)
	require.NotEmpty(t, pods.Items)
	for _, st := range pods.Items[0].Status.ContainerStatuses {
		if st.State.Terminated != nil {
			return st.State.Terminated.ExitCode
		}
	}
	t.Fatalf("job %s: its container has not terminated", job)
	return -1
}

func jobLog(ctx context.Context, t *testing.T, cs kubernetes.Interface, job string) string {
	pods, err := cs.CoreV1().Pods(sysNS).List(ctx, metav1.ListOptions{LabelSelector: "job-name=" + job})
	require.NoError(t, err)
	require.NotEmpty(t, pods.Items)
	b, err := cs.CoreV1().Pods(sysNS).GetLogs(pods.Items[0].Name, &corev1.PodLogOptions{}).DoRaw(ctx)
	require.NoError(t, err)
	return string(b)
}

// Must show 2 of the in-cluster issue: the CronJob's Job runs under only its
// ClusterRole, gives the CLI's verdicts, keeps its report, a second Job
// started meanwhile exits cleanly, and nothing is left behind.
func TestCronJobAuditsInCluster(t *testing.T) {
	f := features.New("tenantcheck as a CronJob").
		WithLabel("mode", "incluster").WithLabel("check", "all").
		Assess("the Job audits the tenants as the CLI does", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			cs := suitekit.Client(ctx, t).Clientset
			sp := guideTenants(ctx, t, cs)
			deploy := filepath.Join(suitekit.RepoRoot(), "deploy", "local")
			kubectl(t, cfg, "apply", "-k", deploy)
			t.Cleanup(func() {
				cmd := exec.Command("kubectl", "--kubeconfig", cfg.KubeconfigFile(), "delete", "-k", deploy, "--wait=true", "--timeout=2m")
				_ = cmd.Run()
			})
			require.NoError(t, provision.WaitServiceAccount(ctx, cs, sysNS, time.Minute))
			// The CronJob passes --policy-reports: with OpenReports served,
			// its Job writes them under its ClusterRole and the guard.
			suitekit.InstallReportCRDs(ctx, t, cfg.KubeconfigFile(), policyreport.OpenReports)

			kubectl(t, cfg, "-n", sysNS, "create", "job", "tc-first", "--from=cronjob/tenantcheck")
			// Start the second once the first holds the Lease.
			require.NoError(t, wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
				_, err := cs.CoordinationV1().Leases(sysNS).Get(ctx, "tenantcheck", metav1.GetOptions{})
				return err == nil, nil
			}), "the first Job never took the Lease")
			kubectl(t, cfg, "-n", sysNS, "create", "job", "tc-second", "--from=cronjob/tenantcheck")

			first, second := waitJob(ctx, t, cs, "tc-first"), waitJob(ctx, t, cs, "tc-second")
			firstLog := jobLog(ctx, t, cs, "tc-first")
			assert.Equal(t, int32(1), first.Status.Succeeded, "first Job: %s", firstLog)
			assert.Equal(t, int32(1), second.Status.Failed, "the second Job exits 3: another run holds the lock")
			secondLog := jobLog(ctx, t, cs, "tc-second")
			assert.Contains(t, secondLog, "holds the lock", "the second Job saw the Lease and did not run")
			assert.Contains(t, secondLog, "holds lease "+sysNS+"/tenantcheck", "and names the holder's lease")
			assert.Equal(t, int32(3), exitCodeOf(ctx, t, cs, "tc-second"))

			cm, err := cs.CoreV1().ConfigMaps(sysNS).Get(ctx, "tenantcheck-report", metav1.GetOptions{})
			require.NoError(t, err)
			inCluster, _ := incluster.LoadReports(cm)
			require.NotNil(t, inCluster, "the Job stored its report")
			require.NoError(t, err)
			dyn, err := dynamic.NewForConfig(suitekit.Client(ctx, t).Config)
			require.NoError(t, err)
			docs := suitekit.ClusterReports(ctx, t, dyn, policyreport.OpenReports)
			assert.Len(t, docs, 1+len(sp.TenantNamespaces()), "one report per tenant namespace and the cluster report: %s", firstLog)
			assert.NoError(t, policyreport.Verify(inCluster, docs), "the Job's reports match its stored report")

			opts := suitekit.Options(t)
			opts.Spec, opts.Mode = sp, model.ModeAudit
			opts.Layers = []model.Layer{model.LayerNamespace, model.LayerNetwork, model.LayerPodSecurity, model.LayerQuota, model.LayerRBAC}
			cli := suitekit.Execute(ctx, t, opts)
			assert.Equal(t, verdicts(cli), verdicts(inCluster), "the Job and the CLI agree check by check")
			for id, v := range verdicts(inCluster) {
				want := model.VerdictHeld
				switch id {
				case "network/shared-ingress-allowed": // these tenants declare no shared namespace
					want = model.VerdictSkipped
				case "quota/pod-count-limit-enforced", // an audit never changes a real quota
					"podsecurity/privileged-workload-blocked", // nor creates a privileged object in a real tenant
					"network/policy-blocks-cross-tenant",      // these tenants run no workload to judge
					"network/workloads-isolated":              // nor to mimic
					want = model.VerdictSkipped
				}
				assert.Equal(t, want, v, id)
			}
			assert.Empty(t, suitekit.LeftNamespaces(ctx, t), "nothing of either run is left")
			for _, ns := range sp.TenantNamespaces() {
				pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
				require.NoError(t, err)
				assert.Empty(t, pods.Items, "no probe pod left in %s", ns)
			}
			return ctx
		}).Feature()
	testenv.Test(t, f)
}

func verdicts(r *model.Report) map[string]model.Verdict {
	out := map[string]model.Verdict{}
	for _, res := range r.Results {
		if !strings.HasPrefix(res.CheckID, "flux/") {
			out[res.CheckID] = res.Verdict
		}
	}
	return out
}
