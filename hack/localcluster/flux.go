package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
)

// Flux on the local cluster: kustomize-controller as Flux installs it (a
// Deployment in flux-system whose service account is bound to
// cluster-admin), the Kustomization CRD, and the CRDs of the source kinds a
// Kustomization may reference. There is no source-controller (it does not
// build here); tenantcheck's Flux layer serves its own artifacts through
// ExternalArtifact objects, so the ExternalArtifact feature gate is on.
const (
	fluxNamespace = "flux-system"
	kcName        = "kustomize-controller"
	kcImage       = "tenantcheck.local/kustomize-controller:" + fluxVersion
)

// fluxLockdownArgs are the shared-cluster safeguards the multi-tenancy guide
// patches into the controller; FLUX_LOCKDOWN=0 leaves them out.
var fluxLockdownArgs = []string{
	"--no-cross-namespace-refs=true",
	"--no-remote-bases=true",
	"--default-service-account=default",
}

// kcArgs are the controller's arguments. Leader election is off: one
// replica, and the Deployment's Recreate strategy keeps two controllers
// from reconciling at once during a switch.
func kcArgs(lockdown bool) []string {
	args := []string{
		"--watch-all-namespaces=true",
		"--log-level=info",
		"--log-encoding=json",
		"--enable-leader-election=false",
		"--feature-gates=ExternalArtifact=true",
	}
	if lockdown {
		args = append(args, fluxLockdownArgs...)
	}
	return args
}

const fluxManifests = `apiVersion: v1
kind: Namespace
metadata:
  name: flux-system
  labels: {app.kubernetes.io/instance: flux-system, app.kubernetes.io/part-of: flux}
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: kustomize-controller
  namespace: flux-system
  labels: {app.kubernetes.io/instance: flux-system, app.kubernetes.io/part-of: flux}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: cluster-reconciler-flux-system
  labels: {app.kubernetes.io/instance: flux-system, app.kubernetes.io/part-of: flux}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: ServiceAccount, name: kustomize-controller, namespace: flux-system}]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: kustomize-controller
  namespace: flux-system
  labels:
    app.kubernetes.io/component: kustomize-controller
    app.kubernetes.io/instance: flux-system
    app.kubernetes.io/part-of: flux
    control-plane: controller
spec:
  replicas: 1
  strategy: {type: Recreate}
  selector: {matchLabels: {app: kustomize-controller}}
  template:
    metadata:
      labels: {app: kustomize-controller, app.kubernetes.io/component: kustomize-controller}
    spec:
      serviceAccountName: kustomize-controller
      terminationGracePeriodSeconds: 10
      securityContext: {runAsNonRoot: true, runAsUser: 65534, fsGroup: 1337, seccompProfile: {type: RuntimeDefault}}
      containers:
      - name: manager
        image: IMAGE
        imagePullPolicy: Never
        args: ARGS
        env:
        - name: RUNTIME_NAMESPACE
          valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
        ports:
        - {name: http-prom, containerPort: 8080, protocol: TCP}
        - {name: healthz, containerPort: 9440, protocol: TCP}
        readinessProbe: {httpGet: {path: /readyz, port: healthz}, periodSeconds: 2}
        livenessProbe: {httpGet: {path: /healthz, port: healthz}}
        resources: {requests: {cpu: 50m, memory: 64Mi}, limits: {cpu: "1", memory: 512Mi}}
        securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
        volumeMounts: [{name: temp, mountPath: /tmp}]
      volumes: [{name: temp, emptyDir: {}}]
`

func fluxManifest(lockdown bool) string {
	quoted := make([]string, 0, 8)
	for _, a := range kcArgs(lockdown) {
		quoted = append(quoted, fmt.Sprintf("%q", a))
	}
	return strings.NewReplacer("IMAGE", kcImage, "ARGS", "["+strings.Join(quoted, ", ")+"]").Replace(fluxManifests)
}

// fluxCRDPaths lists the cached CRD manifests, in a stable order.
func fluxCRDPaths(b binaries) ([]string, error) {
	paths, err := filepath.Glob(filepath.Join(b.FluxCRDs, "*.yaml"))
	if err != nil || len(paths) == 0 {
		return nil, fmt.Errorf("no Flux CRDs in %s (run `make cluster-build`): %v", b.FluxCRDs, err)
	}
	sort.Strings(paths)
	return paths, nil
}

// ensureFlux brings Flux to what the config asks: installed with or without
// the lockdown flags (FLUX_LOCKDOWN), or not installed at all (FLUX=0). Both
// directions are idempotent; a changed Deployment is rolled out and waited for.
func ensureFlux(ctx context.Context, c *config, b binaries, s *steps) error {
	if !c.Flux {
		return uninstallFlux(ctx, c, b, s)
	}
	paths, err := fluxCRDPaths(b)
	if err != nil {
		return err
	}
	// Server-side apply: the Kustomization CRD is too large for the
	// last-applied annotation of a client-side apply.
	args := []string{"apply", "--server-side", "--force-conflicts", "--field-manager=tenantcheck-localcluster"}
	for _, p := range paths {
		args = append(args, "-f", p)
	}
	if _, err := kubectl(ctx, c, b, "", args...); err != nil {
		return fmt.Errorf("install the Flux CRDs: %w", err)
	}
	if _, err := kubectl(ctx, c, b, "", "wait", "--for=condition=Established", "--timeout=60s",
		"crd/kustomizations.kustomize.toolkit.fluxcd.io", "crd/externalartifacts.source.toolkit.fluxcd.io"); err != nil {
		return fmt.Errorf("Flux CRDs not established: %w", err)
	}
	if _, err := kubectl(ctx, c, b, fluxManifest(c.FluxLockdown), "apply", "--server-side", "--force-conflicts",
		"--field-manager=tenantcheck-localcluster", "-f", "-"); err != nil {
		return fmt.Errorf("deploy kustomize-controller: %w", err)
	}
	if _, err := kubectl(ctx, c, b, "", "-n", fluxNamespace, "rollout", "status", "deployment/"+kcName, "--timeout=120s"); err != nil {
		return fmt.Errorf("kustomize-controller not ready: %w\n%s", err, kcLogs(ctx, c, b))
	}
	lock := "with the lockdown flags"
	if !c.FluxLockdown {
		lock = "WITHOUT the lockdown flags (FLUX_LOCKDOWN=0)"
	}
	s.say("Flux kustomize-controller %s ready in %s, %s", fluxVersion, fluxNamespace, lock)
	return nil
}

func kcLogs(ctx context.Context, c *config, b binaries) string {
	out, _ := kubectl(ctx, c, b, "", "-n", fluxNamespace, "logs", "deployment/"+kcName, "--tail=20")
	return out
}

// uninstallFlux removes what ensureFlux installed. Kustomizations carry a
// finalizer that only a running controller removes, so they are deleted
// first, while it runs; whatever is left (the controller was already gone)
// has its finalizers dropped, or the CRD deletion would hang.
func uninstallFlux(ctx context.Context, c *config, b binaries, s *steps) error {
	const ks = "kustomizations.kustomize.toolkit.fluxcd.io"
	if _, err := kubectl(ctx, c, b, "", "get", "crd", ks); err == nil {
		_, _ = kubectl(ctx, c, b, "", "delete", ks, "--all-namespaces", "--all", "--wait=true", "--timeout=30s")
		if left, err := kubectl(ctx, c, b, "", "get", ks, "--all-namespaces", "-o",
			`jsonpath={range .items[*]}{.metadata.namespace}{" "}{.metadata.name}{"\n"}{end}`); err == nil {
			for _, line := range strings.Split(strings.TrimSpace(left), "\n") {
				if f := strings.Fields(line); len(f) == 2 {
					_, _ = kubectl(ctx, c, b, "", "-n", f[0], "patch", ks, f[1], "--type=merge", "-p", `{"metadata":{"finalizers":null}}`)
				}
			}
		}
	}
	if _, err := kubectl(ctx, c, b, "", "delete", "namespace", fluxNamespace, "--ignore-not-found", "--wait=true", "--timeout=120s"); err != nil {
		return fmt.Errorf("remove namespace %s: %w", fluxNamespace, err)
	}
	if _, err := kubectl(ctx, c, b, "", "delete", "clusterrolebinding", "cluster-reconciler-flux-system", "--ignore-not-found"); err != nil {
		return err
	}
	paths, err := fluxCRDPaths(b)
	if err != nil {
		return err
	}
	args := []string{"delete", "--ignore-not-found", "--wait=true", "--timeout=120s"}
	for _, p := range paths {
		args = append(args, "-f", p)
	}
	if _, err := kubectl(ctx, c, b, "", args...); err != nil {
		return fmt.Errorf("remove the Flux CRDs: %w", err)
	}
	s.say("Flux not installed (FLUX=0): flux-system and the Flux CRDs are gone")
	return nil
}

// fluxImage is the controller packed as a one-binary image; it runs as
// nobody, like Flux's own image, with /tmp an emptyDir for artifacts.
func fluxImage(b binaries) image {
	return image{ref: kcImage, bin: b.KustomizeController, path: "kustomize-controller",
		entrypoint: []string{"/kustomize-controller"}, user: "65534"}
}
