package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Image names inside the cluster. None of them is ever pulled: they are
// imported into containerd before anything needs them, and pods use
// imagePullPolicy Never, so no registry is contacted.
const (
	pauseImage   = "tenantcheck.local/pause:v1"
	corednsImage = "tenantcheck.local/coredns:" + corednsVersion
	probeImage   = "tenantcheck.local/probe:dev"
	runnerImage  = "tenantcheck.local/tenantcheck:dev"
)

// image is a one-layer image holding a single static binary.
type image struct {
	ref        string
	bin        string // path of the binary on this machine
	path       string // path inside the image
	entrypoint []string
	user       string
}

// buildStatic builds a Go main package into the cache and returns its path.
func buildStatic(ctx context.Context, c *config, moduleDir, pkg, out string) (string, error) {
	bin := filepath.Join(c.CacheDir, "bin", "local", out)
	if _, err := runCmd(ctx, []string{"CGO_ENABLED=0", "GOTOOLCHAIN=local"}, moduleDir, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, pkg); err != nil {
		return "", fmt.Errorf("build %s: %w", pkg, err)
	}
	return bin, nil
}

// clusterImages builds the pause and probe binaries and lists every image.
func clusterImages(ctx context.Context, c *config, b binaries) ([]image, error) {
	here, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	pause, err := buildStatic(ctx, c, here, "./cmd/pause", "pause")
	if err != nil {
		return nil, err
	}
	probe, err := buildStatic(ctx, c, c.RepoRoot, "./probes/cmd/tenantcheck-probe", "tenantcheck-probe")
	if err != nil {
		return nil, fmt.Errorf("probe agent (from the checkout at %s): %w", c.RepoRoot, err)
	}
	runner, err := buildStatic(ctx, c, c.RepoRoot, "./cmd/tenantcheck", "tenantcheck")
	if err != nil {
		return nil, fmt.Errorf("tenantcheck (from the checkout at %s): %w", c.RepoRoot, err)
	}
	return []image{
		{ref: pauseImage, bin: pause, path: "pause", entrypoint: []string{"/pause"}, user: "65535"},
		{ref: corednsImage, bin: b.CoreDNS, path: "coredns", entrypoint: []string{"/coredns"}},
		{ref: probeImage, bin: probe, path: "tenantcheck-probe", entrypoint: []string{"/tenantcheck-probe"}, user: "65532"},
		// The runner image, for the in-cluster CronJob of deploy/local.
		{ref: runnerImage, bin: runner, path: "tenantcheck", entrypoint: []string{"/tenantcheck"}, user: "65532"},
		fluxImage(b),
	}, nil
}

// importImages packs each image as a docker archive and imports it into
// containerd's k8s.io namespace, skipping those whose content is unchanged.
func importImages(ctx context.Context, c *config, images []image) error {
	dir := filepath.Join(c.CacheDir, "images")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, im := range images {
		archive, err := packImage(dir, im)
		if err != nil {
			return fmt.Errorf("pack image %s: %w", im.ref, err)
		}
		if _, err := runCmd(ctx, nil, "", "ctr", "--address", containerdSock(c), "-n", "k8s.io", "images", "import", archive); err != nil {
			return fmt.Errorf("import image %s: %w", im.ref, err)
		}
	}
	return nil
}

func packImage(dir string, im image) (string, error) {
	data, err := os.ReadFile(im.bin)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(append([]byte(im.ref), data...))
	out := filepath.Join(dir, hex.EncodeToString(sum[:8])+".tar")
	if exists(out) {
		return out, nil
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: im.path, Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
		return "", err
	}
	if _, err := tw.Write(data); err != nil {
		return "", err
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	layerBytes := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layerBytes)), nil })
	if err != nil {
		return "", err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return "", err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return "", err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", "amd64"
	cfg.Config.Entrypoint = im.entrypoint
	cfg.Config.User = im.user
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		return "", err
	}
	ref, err := name.NewTag(im.ref)
	if err != nil {
		return "", err
	}
	tmp := out + ".tmp"
	if err := tarball.WriteToFile(tmp, ref, img); err != nil {
		return "", err
	}
	return out, os.Rename(tmp, out)
}
