package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// krewPlugin is krew's v1alpha2 Plugin manifest, the fields krew's index
// validation reads (sigs.k8s.io/krew pkg/index; its module would pin an
// incompatible client-go, so the shape is written here).
type krewPlugin struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version          string `json:"version"`
		Homepage         string `json:"homepage"`
		ShortDescription string `json:"shortDescription"`
		Description      string `json:"description"`
		Caveats          string `json:"caveats"`
		Platforms        []struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			URI    string `json:"uri"`
			Sha256 string `json:"sha256"`
			Bin    string `json:"bin"`
		} `json:"platforms"`
	} `json:"spec"`
}

// deploy/krew's template renders, for a release tag, into a manifest krew
// accepts: its name is the binary's without kubectl-, every platform has an
// os and arch, a https archive of that tag, its sha256 and the binary.
func TestKrewManifest(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", "krew", "tenantcheck.yaml"))
	require.NoError(t, err)
	sha := strings.Repeat("ab", 32)
	tmpl, err := template.New("krew").Funcs(template.FuncMap{
		"addURIAndSha": func(uri, tag string) string { return fmt.Sprintf("uri: %s\n    sha256: %s", uri, sha) },
	}).Option("missingkey=error").Parse(string(raw))
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, tmpl.Execute(&out, map[string]string{"TagName": "v0.3.0"}))
	var p krewPlugin
	require.NoError(t, yaml.UnmarshalStrict(out.Bytes(), &p), "%s", out.String())

	assert.Equal(t, "krew.googlecontainertools.github.com/v1alpha2", p.APIVersion)
	assert.Equal(t, "Plugin", p.Kind)
	assert.Equal(t, "tenantcheck", p.Metadata.Name)
	assert.Equal(t, "v0.3.0", p.Spec.Version)
	assert.NotEmpty(t, p.Spec.Description)
	assert.LessOrEqual(t, len(p.Spec.ShortDescription), 50, "krew's guide: a short description")
	seen := map[string]bool{}
	for _, pl := range p.Spec.Platforms {
		osName, arch := pl.Selector.MatchLabels["os"], pl.Selector.MatchLabels["arch"]
		require.NotEmpty(t, osName)
		require.NotEmpty(t, arch)
		seen[osName+"/"+arch] = true
		assert.Equal(t, "kubectl-"+p.Metadata.Name, pl.Bin, "the binary kubectl finds")
		assert.Equal(t, sha, pl.Sha256)
		assert.True(t, strings.HasPrefix(pl.URI, "https://") && strings.Contains(pl.URI, "/v0.3.0/") && strings.HasSuffix(pl.URI, "_"+osName+"_"+arch+".tar.gz"), pl.URI)
	}
	assert.Equal(t, map[string]bool{"linux/amd64": true, "linux/arm64": true, "darwin/amd64": true, "darwin/arm64": true}, seen)
}
