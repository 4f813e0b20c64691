package probes

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The directory looks like a ConfigMap volume: the file is a symlink into
// a hidden data directory, which itself must not be served.
func TestArtifactHandler(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "..data")
	require.NoError(t, os.Mkdir(data, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(data, "manifests.tar.gz"), []byte("tarball"), 0o644))
	require.NoError(t, os.Symlink(filepath.Join("..data", "manifests.tar.gz"), filepath.Join(dir, "manifests.tar.gz")))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "sub"), 0o755))
	srv := httptest.NewServer(ArtifactHandler(dir))
	defer srv.Close()

	tests := []struct {
		path     string
		wantCode int
		wantBody string
	}{
		{"/manifests.tar.gz", http.StatusOK, "tarball"},
		{"/healthz", http.StatusOK, "ok\n"},
		{"/missing.tar.gz", http.StatusNotFound, ""},
		{"/sub", http.StatusNotFound, ""},
		{"/..data", http.StatusNotFound, ""},
		{"/..data/manifests.tar.gz", http.StatusNotFound, ""},
		{"/../etc/passwd", http.StatusNotFound, ""},
		{"/", http.StatusNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, err := http.Get(srv.URL + tt.path)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			assert.Equal(t, tt.wantCode, resp.StatusCode)
			if tt.wantBody != "" {
				assert.Equal(t, tt.wantBody, string(body))
			}
		})
	}
}

func TestMainServeArtifactsNeedsDir(t *testing.T) {
	r := runMain(t, "", "serve-artifacts")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, "--dir is required")
	r = runMain(t, "", "serve-artifacts", "--dir", "/nonexistent", "--port", "0")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, "not a directory")
}
