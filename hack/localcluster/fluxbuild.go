package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// fluxVersion is the kustomize-controller release the cluster runs; the CRDs
// of the same release of source-controller come with it. source-controller
// itself does not build from the module proxy (see ../../README.md), so the
// cluster's sources are ExternalArtifact objects.
const fluxVersion = "v1.9.6"

// kustomizeControllerGoMod is the wrapper module that builds the controller's
// main package. A dependency's replace directives are ignored, so it repeats
// those of kustomize-controller's own go.mod; without the go-digest one the
// build fails in go-digest/blake3.
const kustomizeControllerGoMod = `module tenantcheck.local/build/kustomize-controller

go 1.26.0

require github.com/fluxcd/kustomize-controller VERSION

replace (
	github.com/opencontainers/go-digest => github.com/opencontainers/go-digest v1.0.1-0.20220411205349-bde1400a84be
	sigs.k8s.io/kustomize/api => sigs.k8s.io/kustomize/api v0.21.1
	sigs.k8s.io/kustomize/kyaml => sigs.k8s.io/kustomize/kyaml v0.21.1
	gopkg.in/yaml.v3 => gopkg.in/yaml.v3 v3.0.1
)
`

func buildKustomizeController(ctx context.Context, c *config, s *steps, out string) error {
	if exists(out) {
		s.say("kustomize-controller %s: cached", fluxVersion)
		return nil
	}
	s.say("kustomize-controller %s: building (cold: a few minutes)", fluxVersion)
	dir := filepath.Join(c.CacheDir, "build", "kustomize-controller-"+fluxVersion)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	gomod := strings.ReplaceAll(kustomizeControllerGoMod, "VERSION", fluxVersion)
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
		return err
	}
	// A main package of a dependency can be built, not imported: there is
	// no Go file here, and -mod=mod (goEnv) completes the module graph.
	tmp := out + ".tmp"
	if _, err := runCmd(ctx, goEnv, dir, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", tmp,
		"github.com/fluxcd/kustomize-controller"); err != nil {
		return fmt.Errorf("build kustomize-controller %s: %w", fluxVersion, err)
	}
	s.say("kustomize-controller %s: built", fluxVersion)
	return os.Rename(tmp, out)
}

// fluxCRDFiles are the CRD manifests the cluster installs, by module: the
// Kustomization, and the source kinds a Kustomization may reference.
var fluxCRDFiles = map[string][]string{
	"github.com/fluxcd/kustomize-controller": {"kustomize.toolkit.fluxcd.io_kustomizations.yaml"},
	"github.com/fluxcd/source-controller": {
		"source.toolkit.fluxcd.io_externalartifacts.yaml",
		"source.toolkit.fluxcd.io_gitrepositories.yaml",
		"source.toolkit.fluxcd.io_ocirepositories.yaml",
		"source.toolkit.fluxcd.io_buckets.yaml",
	},
}

// fetchFluxCRDs copies the CRD manifests out of the module zips (which carry
// a module's non-Go files) into the cache.
func fetchFluxCRDs(ctx context.Context, c *config, s *steps, dir string) error {
	stamp := filepath.Join(dir, ".complete")
	if exists(stamp) {
		s.say("flux CRDs %s: cached", fluxVersion)
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for mod, files := range fluxCRDFiles {
		out, err := runCmd(ctx, []string{"GOTOOLCHAIN=local"}, c.CacheDir, "go", "mod", "download", "-json", mod+"@"+fluxVersion)
		if err != nil {
			return fmt.Errorf("download %s %s: %w", mod, fluxVersion, err)
		}
		var info struct{ Dir, Error string }
		if err := json.Unmarshal([]byte(out), &info); err != nil || info.Dir == "" {
			return fmt.Errorf("read %s %s module info: %v %s", mod, fluxVersion, err, info.Error)
		}
		for _, f := range files {
			data, err := os.ReadFile(filepath.Join(info.Dir, "config", "crd", "bases", f))
			if err != nil {
				return fmt.Errorf("CRD of %s %s: %w", mod, fluxVersion, err)
			}
			if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
				return err
			}
		}
	}
	s.say("flux CRDs %s: copied from the module zips into %s", fluxVersion, dir)
	return os.WriteFile(stamp, []byte(fluxVersion+"\n"), 0o644)
}
