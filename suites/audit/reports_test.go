package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

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
				crds := suitekit.InstallReportCRDs(ctx, t, cfg.KubeconfigFile(), api)

				metricsFile := filepath.Join(t.TempDir(), "tenantcheck.prom")
				rep, stderr := audit(1, "--layers", "network,rbac,quota", "--policy-reports", "--metrics-file", metricsFile)
				assert.Contains(t, stderr, "policy reports: 3 "+api.GroupVersion())
				docs := suitekit.ClusterReports(ctx, t, dyn, api)
				require.Len(t, docs, 1+len(tenantNS), "one cluster report and one per tenant namespace")
				assert.Equal(t, suitekit.SortDocs(policyreport.Build(rep, tenantNS)), docs, "the cluster holds what the JSON report says, result by result")
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
				docs = suitekit.ClusterReports(ctx, t, dyn, api)
				require.Len(t, docs, 1+len(tenantNS), "replaced, not piled up")
				assert.Equal(t, suitekit.SortDocs(policyreport.Build(rep, tenantNS)), docs)
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

func indexOf(docs []policyreport.Doc, ns string) int {
	for i, d := range docs {
		if d.Namespace == ns {
			return i
		}
	}
	return -1
}
