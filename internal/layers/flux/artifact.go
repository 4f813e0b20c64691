package flux

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net"
	"path"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/tenantcheck/tenantcheck/internal/kube"
	"github.com/tenantcheck/tenantcheck/probes"
)

// The artifact server and its tarball.
const (
	serverName   = "tc-flux-artifacts"
	artifactFile = "manifests.tar.gz"
	sourceName   = "tc-flux-source"
	serverLabel  = "tenantcheck.io/flux-artifacts"
)

// artifact is the tarball the Kustomizations reconcile, as Flux describes it.
type artifact struct {
	data     []byte
	digest   string // sha256:<hex>
	revision string
	url      string
}

// buildArtifact packs one directory per live check, each holding one
// ConfigMap manifest; the tarball is reproducible (fixed times, sorted).
func buildArtifact(files map[string][]byte) (artifact, error) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	epoch := time.Unix(0, 0)
	dirs := map[string]bool{}
	for _, n := range names {
		if d := path.Dir(n); d != "." && !dirs[d] {
			dirs[d] = true
			if err := tw.WriteHeader(&tar.Header{Name: d + "/", Mode: 0o755, Typeflag: tar.TypeDir, ModTime: epoch}); err != nil {
				return artifact{}, err
			}
		}
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg, ModTime: epoch}); err != nil {
			return artifact{}, err
		}
		if _, err := tw.Write(files[n]); err != nil {
			return artifact{}, err
		}
	}
	if err := tw.Close(); err != nil {
		return artifact{}, err
	}
	if err := gz.Close(); err != nil {
		return artifact{}, err
	}
	sum := sha256.Sum256(buf.Bytes())
	d := "sha256:" + hex.EncodeToString(sum[:])
	return artifact{data: buf.Bytes(), digest: d, revision: "tenantcheck@" + d}, nil
}

// configMapManifest is the content one live check tries to apply.
func configMapManifest(name, namespace string, labels map[string]string) ([]byte, error) {
	meta := map[string]any{"name": name, "labels": labels}
	if namespace != "" {
		meta["namespace"] = namespace
	}
	return yaml.Marshal(map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta,
		"data": map[string]string{"written-by": "tenantcheck flux layer"},
	})
}

// deployServer runs the probe agent's serve-artifacts mode with the tarball
// mounted from a ConfigMap, and once the pod is Ready sets a.url to its pod
// IP. Not a Service: a connection sent to a ClusterIP before kube-proxy has
// programmed it is dropped, and the controller's fetch then waits out a 30s
// dial timeout; a Ready pod's IP answers at once, and needs no DNS either.
func deployServer(ctx context.Context, e env, in Input, a *artifact, timeout time.Duration) error {
	ns := in.Outsider
	podLabels := maps.Clone(in.Labels)
	if podLabels == nil {
		podLabels = map[string]string{}
	}
	podLabels[serverLabel] = "server"
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: serverName, Namespace: ns, Labels: maps.Clone(in.Labels)},
		BinaryData: map[string][]byte{artifactFile: a.data}}
	if _, err := e.cs.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create ConfigMap %s/%s: %w", ns, serverName, err)
	}
	if _, err := e.cs.CoreV1().Pods(ns).Create(ctx, serverPod(in, podLabels), metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create pod %s/%s: %w", ns, serverName, err)
	}
	p, err := kube.WaitPodReady(ctx, e.cs, ns, serverName, timeout)
	if err != nil {
		return fmt.Errorf("artifact server: %w", err)
	}
	a.url = "http://" + net.JoinHostPort(p.Status.PodIP, fmt.Sprint(probes.ArtifactsPort)) + "/" + artifactFile
	return nil
}

// serverPod satisfies Pod Security "restricted": non-root, read-only root,
// no capabilities, RuntimeDefault seccomp, no service account token.
func serverPod(in Input, labels map[string]string) *corev1.Pod {
	rl := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("32Mi")}
	pod := kube.RestrictedPod(kube.PodOptions{Namespace: in.Outsider, Name: serverName, Image: in.Image, PullPolicy: in.PullPolicy,
		Labels: labels, Container: "artifacts", Resources: &corev1.ResourceRequirements{Requests: rl, Limits: rl}})
	c := &pod.Spec.Containers[0]
	c.Args = []string{"serve-artifacts", "--dir", "/artifacts", "--port", fmt.Sprint(probes.ArtifactsPort)}
	c.Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: probes.ArtifactsPort}}
	c.ReadinessProbe = &corev1.Probe{PeriodSeconds: 1, ProbeHandler: corev1.ProbeHandler{
		HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(probes.ArtifactsPort)}}}
	c.VolumeMounts = []corev1.VolumeMount{{Name: "artifacts", MountPath: "/artifacts", ReadOnly: true}}
	pod.Spec.Volumes = []corev1.Volume{{Name: "artifacts", VolumeSource: corev1.VolumeSource{
		ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: serverName}}}}}
	return pod
}

// createSource creates an ExternalArtifact in ns, without an artifact yet:
// created early, it is in the controller's cache long before a
// Kustomization asks for it.
func createSource(ctx context.Context, e env, crds installed, ns string, labels map[string]string) error {
	gvr := *crds.externalArtifact
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": gvr.GroupVersion().String(), "kind": "ExternalArtifact",
		"metadata": map[string]any{"name": sourceName, "namespace": ns},
		"spec":     map[string]any{},
	}}
	u.SetLabels(labels)
	if _, err := e.dyn.Resource(gvr).Namespace(ns).Create(ctx, u, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create ExternalArtifact %s/%s: %w", ns, sourceName, err)
	}
	return nil
}

// publish writes the artifact into the source's status, as a source
// controller would.
func publish(ctx context.Context, e env, crds installed, ns string, a artifact) error {
	gvr := *crds.externalArtifact
	src, err := e.dyn.Resource(gvr).Namespace(ns).Get(ctx, sourceName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("read ExternalArtifact %s/%s: %w", ns, sourceName, err)
	}
	now := metav1.Now().UTC().Format(time.RFC3339)
	src.Object["status"] = map[string]any{
		"artifact": map[string]any{
			"url": a.url, "digest": a.digest, "revision": a.revision, "lastUpdateTime": now,
			"path": "tenantcheck/" + artifactFile, "size": int64(len(a.data)),
		},
		"conditions": []any{map[string]any{
			"type": "Ready", "status": "True", "reason": "Succeeded", "lastTransitionTime": now,
			"message": "artifact served by tenantcheck", "observedGeneration": src.GetGeneration(),
		}},
	}
	if _, err := e.dyn.Resource(gvr).Namespace(ns).UpdateStatus(ctx, src, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("write the artifact into ExternalArtifact %s/%s status: %w", ns, sourceName, err)
	}
	return nil
}
