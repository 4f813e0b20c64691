package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	orv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/tenantcheck/tenantcheck/internal/metrics"
	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/internal/policyreport"
	"github.com/tenantcheck/tenantcheck/suites/suitekit"
)

// openReportsModule is the OpenReports release whose CRDs the suite
// installs, from the Go module proxy; the wg-policy CRDs are testdata.
const openReportsModule = "github.com/openreports/reports-api@v0.2.1"

// Issue 14, must shows 1 to 3: an audit of two tenants with --policy-reports
// writes exactly one report per tenant namespace and one cluster report,
// the same results as its JSON report; a second run replaces them; each API
// works with only its own CRDs installed, and with neither the run says so
// once and goes on. The metrics file of the same (Broken) run parses, passes
// promlint and shows the Broken layer.
func TestPolicyReportsAndMetrics(t *testing.T) {
	f := features.New("policy reports and metrics").
		WithLabel("mode", "audit").WithLabel("check", "exports").
		Assess("both report APIs, replaced not piled up, one to one with the JSON", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			cs := suitekit.Client(ctx, t).Clientset
			s := realTenants(ctx, t, cs)
			specPath := specFile(t, s)
			openTenantA(ctx, t, cs) // a Broken network layer, for the reports and the metrics
			bin := suitekit.BuildCLI(t)
			dyn, err := dynamic.NewForConfig(suitekit.Client(ctx, t).Config)
			require.NoError(t, err)
			tenantNS := s.TenantNamespaces()

			audit := func(wantCode int, args ...string) (*model.Report, string) {
				t.Helper()
				out := filepath.Join(t.TempDir(), "report.json")
				cmd := exec.CommandContext(ctx, bin, append([]string{"audit", "--spec", specPath, "--kubeconfig", cfg.KubeconfigFile(),
					"-o", "json", "--output-file", out}, args...)...)
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				err := cmd.Run()
				t.Log(stderr.String())
				code := 0
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					code = ee.ExitCode()
				} else {
					require.NoError(t, err)
				}
				require.Equal(t, wantCode, code, "exit code of audit %s", strings.Join(args, " "))
				data, err := os.ReadFile(out)
				require.NoError(t, err)
				rep, err := model.DecodeReport(bytes.NewReader(data))
				require.NoError(t, err)
				return rep, stderr.String()
			}

			// Neither CRD: said once, and the run goes on.
			_, stderr := audit(0, "--layers", "rbac", "--policy-reports")
			assert.Equal(t, 1, strings.Count(stderr, "going on without them"), "said once")

			for _, api := range []policyreport.API{policyreport.WGPolicy, policyreport.OpenReports} {
				crds := installReportCRDs(ctx, t, cfg, api)

				metricsFile := filepath.Join(t.TempDir(), "tenantcheck.prom")
				rep, stderr := audit(1, "--layers", "network,rbac,quota", "--policy-reports", "--metrics-file", metricsFile)
				assert.Contains(t, stderr, "policy reports: 3 "+api.GroupVersion())
				docs := clusterReports(ctx, t, dyn, api)
				require.Len(t, docs, 1+len(tenantNS), "one cluster report and one per tenant namespace")
				assert.Equal(t, sortDocs(policyreport.Build(rep, tenantNS)), docs, "the cluster holds what the JSON report says, result by result")
				require.NoError(t, policyreport.Verify(rep, docs))
				assert.Positive(t, docs[indexOf(docs, "audit-tenant-a")].Summary.Fail, "the opened tenant's report has the failure")
				if api.Name == policyreport.OpenReports.Name {
					decodeStrict(ctx, t, dyn, api)
				}

				data, err := os.ReadFile(metricsFile)
				require.NoError(t, err)
				mfs, err := metrics.Parse(bytes.NewReader(data))
				require.NoError(t, err, "the text parser reads it, promlint finds nothing")
				assert.True(t, hasSeries(mfs["tenantcheck_layer_verdict"], map[string]string{"layer": "network", "verdict": "Broken"}), "the Broken layer shows:\n%s", data)
				assert.True(t, hasSeries(mfs["tenantcheck_check_verdict"],
					map[string]string{"check": "network/other-namespace-ingress-denied", "to": "audit-tenant-a", "verdict": "Broken"}), "the broken path shows")

				// A second run replaces the reports: the same count, only its results.
				rep, _ = audit(0, "--layers", "rbac", "--policy-reports")
				docs = clusterReports(ctx, t, dyn, api)
				require.Len(t, docs, 1+len(tenantNS), "replaced, not piled up")
				assert.Equal(t, sortDocs(policyreport.Build(rep, tenantNS)), docs)
				for _, d := range docs {
					for _, r := range d.Results {
						assert.Equal(t, "rbac", r.Policy, "nothing of the first run is left")
					}
				}
				crds()
			}
			return ctx
		}).Feature()
	testenv.Test(t, f)
}

// installReportCRDs installs the API's two CRDs, waits until they are
// served, and returns the function that removes them again (also run at
// cleanup), waiting until they are gone: one API at a time.
func installReportCRDs(ctx context.Context, t *testing.T, cfg *envconf.Config, api policyreport.API) func() {
	t.Helper()
	var files []string
	if api.Name == policyreport.OpenReports.Name {
		dir := moduleDir(t, openReportsModule)
		files = []string{filepath.Join(dir, "config", "crd", "openreports.io_reports.yaml"), filepath.Join(dir, "config", "crd", "openreports.io_clusterreports.yaml")}
	} else {
		files = []string{filepath.Join(suitekit.RepoRoot(), "suites", "audit", "testdata", "wgpolicyk8s.io_crds.yaml")}
	}
	kubectl := func(args ...string) error {
		out, err := exec.CommandContext(ctx, "kubectl", append([]string{"--kubeconfig", cfg.KubeconfigFile()}, args...)...).CombinedOutput()
		if err != nil {
			return errors.New(string(out))
		}
		return nil
	}
	names := []string{"crd/" + api.Resource + "." + api.Group, "crd/" + api.ClusterResource + "." + api.Group}
	remove := func() {
		_ = kubectl(append([]string{"delete", "--ignore-not-found", "--wait=true", "--timeout=60s"}, names...)...)
	}
	t.Cleanup(remove)
	for _, f := range files {
		require.NoError(t, kubectl("apply", "--server-side", "-f", f))
	}
	require.NoError(t, kubectl(append([]string{"wait", "--for", "condition=Established", "--timeout", "60s"}, names...)...))
	require.Eventually(t, func() bool {
		return kubectl("get", api.Resource+"."+api.Group, "-A") == nil && kubectl("get", api.ClusterResource+"."+api.Group) == nil
	}, 30*time.Second, 500*time.Millisecond, "the API server serves %s", api.GroupVersion())
	return remove
}

func moduleDir(t *testing.T, module string) string {
	t.Helper()
	cmd := exec.Command("go", "mod", "download", "-json", module)
	cmd.Dir = suitekit.RepoRoot()
	out, err := cmd.Output()
	require.NoError(t, err, "go mod download %s", module)
	var mod struct{ Dir string }
	require.NoError(t, json.Unmarshal(out, &mod))
	return mod.Dir
}

// clusterReports reads tenantcheck's reports of the API back as docs,
// the cluster report first, then by namespace.
func clusterReports(ctx context.Context, t *testing.T, dyn dynamic.Interface, api policyreport.API) []policyreport.Doc {
	t.Helper()
	sel := metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=tenantcheck"}
	var items []unstructured.Unstructured
	for _, r := range []string{api.ClusterResource, api.Resource} {
		list, err := dyn.Resource(schema.GroupVersionResource{Group: api.Group, Version: api.Version, Resource: r}).List(ctx, sel)
		require.NoError(t, err)
		items = append(items, list.Items...)
	}
	var docs []policyreport.Doc
	for _, it := range items {
		assert.Equal(t, policyreport.Name, it.GetName())
		var body struct {
			Results []policyreport.Result `json:"results"`
			Summary policyreport.Summary  `json:"summary"`
		}
		data, err := it.MarshalJSON()
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(data, &body))
		docs = append(docs, policyreport.Doc{Namespace: it.GetNamespace(), Results: body.Results, Summary: body.Summary})
	}
	return sortDocs(docs)
}

func sortDocs(docs []policyreport.Doc) []policyreport.Doc {
	sort.SliceStable(docs, func(i, j int) bool { return docs[i].Namespace < docs[j].Namespace })
	return docs
}

func indexOf(docs []policyreport.Doc, ns string) int {
	for i, d := range docs {
		if d.Namespace == ns {
			return i
		}
	}
	return -1
}

// decodeStrict decodes what the cluster holds into OpenReports' own Go
// types, refusing any field they do not have.
func decodeStrict(ctx context.Context, t *testing.T, dyn dynamic.Interface, api policyreport.API) {
	t.Helper()
	strict := func(u unstructured.Unstructured, into any) {
		data, err := u.MarshalJSON()
		require.NoError(t, err)
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		require.NoError(t, dec.Decode(into), "%s %s/%s", u.GetKind(), u.GetNamespace(), u.GetName())
	}
	sel := metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=tenantcheck"}
	list, err := dyn.Resource(schema.GroupVersionResource{Group: api.Group, Version: api.Version, Resource: api.Resource}).List(ctx, sel)
	require.NoError(t, err)
	for _, u := range list.Items {
		var r orv1alpha1.Report
		strict(u, &r)
		assert.Equal(t, policyreport.Source, r.Source)
		assert.Equal(t, "Namespace", r.Scope.Kind)
	}
	cl, err := dyn.Resource(schema.GroupVersionResource{Group: api.Group, Version: api.Version, Resource: api.ClusterResource}).List(ctx, sel)
	require.NoError(t, err)
	for _, u := range cl.Items {
		var r orv1alpha1.ClusterReport
		strict(u, &r)
	}
}

// hasSeries says whether a family has a series with these label values.
func hasSeries(mf *dto.MetricFamily, labels map[string]string) bool {
	for _, m := range mf.GetMetric() {
		n := 0
		for _, l := range m.GetLabel() {
			if v, ok := labels[l.GetName()]; ok && v == l.GetValue() {
				n++
			}
		}
		if n == len(labels) && m.GetGauge().GetValue() == 1 {
			return true
		}
	}
	return false
}
