package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/internal/report"
)

// sonobuoyManifest is the shape of a Sonobuoy plugin manifest
// (pkg/plugin/manifest in vmware-tanzu/sonobuoy: its module is not on the
// proxy these machines reach, so the shape is written here). The container
// is Kubernetes' own type, decoded strictly.
type sonobuoyManifest struct {
	Config struct {
		Driver       string   `json:"driver"`
		PluginName   string   `json:"plugin-name"`
		ResultFormat string   `json:"result-format"`
		ResultFiles  []string `json:"result-files,omitempty"`
		SkipCleanup  bool     `json:"skip-cleanup,omitempty"`
		Description  string   `json:"description,omitempty"`
		SourceURL    string   `json:"source-url,omitempty"`
	} `json:"sonobuoy-config"`
	Spec corev1.Container `json:"spec"`
}

// deploy/sonobuoy is a Job plugin with JUnit results, whose container
// arguments this binary takes: the report lands in Sonobuoy's results
// directory and its path in the done file.
func TestSonobuoyPlugin(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", "sonobuoy", "tenantcheck.yaml"))
	require.NoError(t, err)
	var m sonobuoyManifest
	require.NoError(t, yaml.UnmarshalStrict(raw, &m))
	assert.Equal(t, "Job", m.Config.Driver)
	assert.Equal(t, "tenantcheck", m.Config.PluginName)
	assert.Equal(t, "junit", m.Config.ResultFormat)
	assert.Equal(t, "plugin", m.Spec.Name)
	require.NotEmpty(t, m.Spec.Args)
	assert.Empty(t, m.Spec.Command, "the image's entrypoint is the binary")

	mode := model.ModeProvision
	if m.Spec.Args[0] == "audit" {
		mode = model.ModeAudit
	}
	f, err := parseRun(m.Spec.Args[1:], &strings.Builder{}, mode)
	require.NoError(t, err, "the binary takes the plugin's arguments")
	format, err := report.ParseFormat(f.output)
	require.NoError(t, err)
	assert.Equal(t, report.JUnit, format)
	assert.Equal(t, "/tmp/sonobuoy/results/done", f.doneFile)
	assert.True(t, strings.HasPrefix(f.outputFile, "/tmp/sonobuoy/results/"), f.outputFile)
	mounted := false
	for _, v := range m.Spec.VolumeMounts {
		mounted = mounted || v.MountPath == "/tmp/sonobuoy/results"
	}
	assert.True(t, mounted, "the results directory is mounted")
	require.NotNil(t, m.Spec.SecurityContext)
	assert.True(t, *m.Spec.SecurityContext.ReadOnlyRootFilesystem)
}

func TestDoneFileNeedsOutputFile(t *testing.T) {
	_, err := parseRun([]string{"--done-file", "/tmp/done"}, &strings.Builder{}, model.ModeProvision)
	assert.ErrorContains(t, err, "give --output-file too")
}
