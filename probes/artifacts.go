package probes

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ArtifactsPort is where serve-artifacts listens by default.
const ArtifactsPort = 8080

// ArtifactHandler serves the regular files directly inside dir, by name,
// for GitOps controllers to fetch (tenantcheck's Flux layer mounts its
// tarballs from a ConfigMap there). /healthz answers for the readiness
// probe; anything else, a directory or a path with a slash is 404.
func ArtifactHandler(dir string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /{name}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if name == "" || strings.HasPrefix(name, ".") || strings.ContainsAny(name, `/\`) {
			http.NotFound(w, r)
			return
		}
		// A ConfigMap volume's files are symlinks into ..data; Stat follows them.
		path := filepath.Join(dir, name)
		fi, err := os.Stat(path)
		if err != nil || !fi.Mode().IsRegular() {
			http.NotFound(w, r)
			return
		}
		f, err := os.Open(path)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		defer f.Close()
		w.Header().Set("Content-Type", "application/octet-stream")
		http.ServeContent(w, r, name, fi.ModTime(), f)
	})
	return mux
}

// ServeArtifacts serves dir over HTTP on port until ctx ends.
func ServeArtifacts(ctx context.Context, dir string, port int) error {
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("artifact directory %s: not a directory (%v)", dir, err)
	}
	l, err := net.Listen("tcp", ":"+strconv.Itoa(port))
	if err != nil {
		return fmt.Errorf("listen tcp :%d: %w", port, err)
	}
	srv := &http.Server{Handler: ArtifactHandler(dir), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
