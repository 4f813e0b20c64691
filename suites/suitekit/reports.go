package suitekit

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/tenantcheck/tenantcheck/internal/policyreport"
)

// OpenReportsModule is the OpenReports release whose CRDs the suites
// install, from the Go module proxy; the wg-policy CRDs are testdata of
// suites/audit, written from the published schema.
const OpenReportsModule = "github.com/openreports/reports-api@v0.2.1"

// InstallReportCRDs installs the API's two CRDs, waits until they are
// served, and returns the function that removes them again (also run at
// cleanup), waiting until they are gone: one API at a time.
func InstallReportCRDs(ctx context.Context, t *testing.T, kubeconfig string, api policyreport.API) func() {
	t.Helper()
	var files []string
	if api.Name == policyreport.OpenReports.Name {
		dir := ModuleDir(t, OpenReportsModule)
		files = []string{filepath.Join(dir, "config", "crd", "openreports.io_reports.yaml"), filepath.Join(dir, "config", "crd", "openreports.io_clusterreports.yaml")}
	} else {
		files = []string{filepath.Join(RepoRoot(), "suites", "audit", "testdata", "wgpolicyk8s.io_crds.yaml")}
	}
	kubectl := func(args ...string) error {
		out, err := exec.CommandContext(ctx, "kubectl", append([]string{"--kubeconfig", kubeconfig}, args...)...).CombinedOutput()
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

// ModuleDir is a module's directory in the module cache, downloaded if need be.
func ModuleDir(t *testing.T, module string) string {
	t.Helper()
	cmd := exec.Command("go", "mod", "download", "-json", module)
	cmd.Dir = RepoRoot()
	out, err := cmd.Output()
	require.NoError(t, err, "go mod download %s", module)
	var mod struct{ Dir string }
	require.NoError(t, json.Unmarshal(out, &mod))
	return mod.Dir
}

// ClusterReports reads tenantcheck's reports of the API back as docs,
// the cluster report first, then by namespace.
func ClusterReports(ctx context.Context, t *testing.T, dyn dynamic.Interface, api policyreport.API) []policyreport.Doc {
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
	return SortDocs(docs)
}

// SortDocs orders docs the way ClusterReports returns them.
func SortDocs(docs []policyreport.Doc) []policyreport.Doc {
	sort.SliceStable(docs, func(i, j int) bool { return docs[i].Namespace < docs[j].Namespace })
	return docs
}
