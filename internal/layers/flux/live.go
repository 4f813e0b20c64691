package flux

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/tenantcheck/tenantcheck/internal/baseline"
	"github.com/tenantcheck/tenantcheck/internal/model"
)

// Pair is the two tenant namespaces of the live checks: A acts, B is aimed
// at; TenantA and TenantB are their tenants.
type Pair struct{ A, B, TenantA, TenantB string }

// LiveCheck is one Kustomization the layer creates in tenant A and how the
// controller's answer is judged. Adding a live check is one entry in
// LiveChecks.
type LiveCheck struct {
	model.Check
	// Object is the Kustomization's name; Path the artifact directory it
	// reconciles, which holds one ConfigMap of the same name.
	Object string
	// CrossNamespaceSource points the sourceRef at tenant B's source.
	CrossNamespaceSource bool
	// ServiceAccount is spec.serviceAccountName ("" leaves it unset); it
	// must exist in tenant A, or the check is Skipped.
	ServiceAccount string
	// ContentInB declares the ConfigMap in tenant B; otherwise it has no
	// namespace and spec.targetNamespace puts it in tenant A.
	ContentInB bool
	// Judge reads the controller's answer; sa is ServiceAccount, the
	// identity a refusal must name.
	Judge func(o Observation, p Pair, sa string) model.Judgement
}

func (c LiveCheck) contentNamespace(p Pair) string {
	if c.ContentInB {
		return p.B
	}
	return p.A
}

// LiveChecks are the checks the real controller answers, in report order.
var LiveChecks = []LiveCheck{
	{
		Check: model.Check{ID: "flux/cross-namespace-sourceref-blocked", Layer: model.LayerFlux,
			Name:        "a sourceRef into another tenant is refused",
			Description: "a Kustomization in tenant A whose sourceRef names an ExternalArtifact in tenant B is refused by the controller (Ready=False, AccessDenied)",
			Expected:    model.ExpectAPI(model.APIForbidden)},
		Object: "tc-flux-cross-namespace", CrossNamespaceSource: true, ServiceAccount: baseline.ReconcilerName,
		Judge: JudgeCrossNamespace,
	},
	{
		Check: model.Check{ID: "flux/impersonation-confines-reconciler", Layer: model.LayerFlux,
			Name:        "the tenant's reconciler cannot write into another tenant",
			Description: "a Kustomization in tenant A with serviceAccountName tenant-reconciler whose content is a ConfigMap in tenant B fails Forbidden, and the ConfigMap is not created",
			Expected:    model.ExpectAPI(model.APIForbidden)},
		Object: "tc-flux-impersonation", ServiceAccount: baseline.ReconcilerName, ContentInB: true,
		Judge: JudgeImpersonation,
	},
	{
		Check: model.Check{ID: "flux/default-service-account-applies", Layer: model.LayerFlux,
			Name:        "no serviceAccountName means the default account, not the controller",
			Description: "a Kustomization in tenant A without serviceAccountName whose content is a ConfigMap in tenant B fails Forbidden as system:serviceaccount:<A>:default, not applied with the controller's own rights",
			Expected:    model.ExpectAPI(model.APIForbidden)},
		Object: "tc-flux-default-sa", ContentInB: true,
		Judge: JudgeDefaultServiceAccount,
	},
}

// NotOptedIn is why an audit without --flux-live skips the live checks.
const NotOptedIn = "audit without --flux-live: the live checks put an ExternalArtifact into two tenants and Kustomizations into one, which their Flux reconciles and alerts on; opt in with --flux-live"

// liveResults runs every live check at once: one artifact, one server, one
// source in each of the two tenants, then one Kustomization per check.
func liveResults(ctx context.Context, e env, crds installed, in Input) []model.Result {
	p, ok := pair(in.Tenants, in.Rotation)
	switch {
	case !ok:
		return liveAll(model.Skipped("needs two tenants"))
	case in.NoPods:
		return liveAll(model.Skipped("--no-pods: the live checks need an artifact-server pod"))
	case crds.externalArtifact == nil:
		return liveAll(model.Skipped("the ExternalArtifact CRD is not installed, so the layer has no source to offer the controller"))
	case !in.Live:
		return liveAll(model.Skipped(NotOptedIn))
	case in.Outsider == "":
		return liveAll(model.Errored("no namespace of the run's own for the artifact server"))
	}
	bound := in.Wait
	if bound <= 0 {
		bound = DefaultWait
	}
	start := time.Now()
	a, err := setUp(ctx, e, crds, in, p)
	defer func() {
		// Also after an interrupt, but bounded.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if cerr := cleanUp(cctx, e, crds, in, p); cerr != nil {
			in.Say("flux: cleanup: %v", cerr)
		}
	}()
	if err != nil {
		return liveAll(model.Errored(err.Error()))
	}
	in.Say("flux: artifact served from %s/%s, sources in %s and %s (%.1fs); %s acts against %s this time", in.Outsider, serverName, p.A, p.B, time.Since(start).Seconds(), p.TenantA, p.TenantB)
	out := make([]model.Result, len(LiveChecks))
	done := make(chan struct{}, len(LiveChecks))
	for i, c := range LiveChecks {
		go func() {
			out[i] = c.try(ctx, e, crds, in, p, a, bound)
			done <- struct{}{}
		}()
	}
	for range LiveChecks {
		<-done
	}
	return out
}

func liveAll(j model.Judgement) []model.Result {
	var out []model.Result
	for _, c := range LiveChecks {
		out = append(out, c.Result(j))
	}
	return out
}

// pair chooses the two tenants of the live checks. With two tenants it is
// always the first acting against the second; with more, the pairs of
// neighbours in spec order (t1 against t2, ..., tn against t1), the
// rotation-th of them: the runner passes the hours since the epoch, so an
// hourly CronJob has every tenant act, and be aimed at, once every n
// hours. The pair is in the progress line and in the report's tenantPairs.
func pair(tenants []Tenant, rotation int64) (Pair, bool) {
	var with []Tenant
	for _, t := range tenants {
		if len(t.Namespaces) > 0 {
			with = append(with, t)
		}
	}
	n := len(with)
	if n < 2 {
		return Pair{}, false
	}
	i := 0
	if n > 2 {
		i = int(((rotation % int64(n)) + int64(n)) % int64(n))
	}
	a, b := with[i], with[(i+1)%n]
	return Pair{A: a.Namespaces[0], B: b.Namespaces[0], TenantA: a.Name, TenantB: b.Name}, true
}

func setUp(ctx context.Context, e env, crds installed, in Input, p Pair) (artifact, error) {
	files := map[string][]byte{}
	for _, c := range LiveChecks {
		ns := ""
		if c.ContentInB {
			ns = p.B
		}
		m, err := configMapManifest(c.Object, ns, in.Labels)
		if err != nil {
			return artifact{}, err
		}
		files[c.Object+"/configmap.yaml"] = m
	}
	a, err := buildArtifact(files)
	if err != nil {
		return a, fmt.Errorf("build the artifact: %w", err)
	}
	for _, ns := range []string{p.A, p.B} {
		if err := createSource(ctx, e, crds, ns, in.Labels); err != nil {
			return a, err
		}
	}
	if err := deployServer(ctx, e, in, &a, 90*time.Second); err != nil {
		return a, err
	}
	for _, ns := range []string{p.A, p.B} {
		if err := publish(ctx, e, crds, ns, a); err != nil {
			return a, err
		}
	}
	return a, nil
}

// try creates the check's Kustomization and waits for the controller's
// verdict on it.
func (c LiveCheck) try(ctx context.Context, e env, crds installed, in Input, p Pair, a artifact, timeout time.Duration) model.Result {
	cmNS := c.contentNamespace(p)
	ev := model.Evidence{Action: c.action(p), From: p.A, To: cmNS, Attempts: 1,
		Repro: fmt.Sprintf("%s get kustomization -n %s %s -o yaml", e.repro, p.A, c.Object)}
	result := func(j model.Judgement, o Observation) model.Result {
		r := c.Result(j)
		r.Expected = c.expected(p)
		r.Observed = o.String()
		ev.Raw = o.String()
		if ev.Attempts > 1 {
			ev.Raw += fmt.Sprintf(" (reconciliation requested again %d time(s) after \"artifact not found\")", ev.Attempts-1)
		}
		ev.Duration = model.Millis(o.Elapsed)
		r.Evidence, r.Attempts, r.Duration = []model.Evidence{ev}, ev.Attempts, ev.Duration
		return r
	}
	if c.ServiceAccount != "" {
		if _, err := e.cs.CoreV1().ServiceAccounts(p.A).Get(ctx, c.ServiceAccount, metav1.GetOptions{}); apierrors.IsNotFound(err) {
			return result(model.Skipped("service account "+c.ServiceAccount+" does not exist in "+p.A+
				" (a missing account is refused just like a confined one, so the answer would prove nothing)"), Observation{})
		} else if err != nil {
			return result(model.Errored("read service account "+p.A+"/"+c.ServiceAccount+": "+err.Error()), Observation{})
		}
	}
	start := time.Now()
	if _, err := e.dyn.Resource(*crds.kustomization).Namespace(p.A).Create(ctx, c.kustomization(crds, in, p), metav1.CreateOptions{}); err != nil {
		return result(model.Errored(fmt.Sprintf("create Kustomization %s/%s: %v", p.A, c.Object, err)), Observation{})
	}
	var o Observation
	var nudged time.Time
	_ = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		o = observe(ctx, e, crds, p.A, c.Object, cmNS, a.revision)
		// The controller may have read the source from a cache that did not
		// yet hold its artifact; it then retries only after 30s. Ask again
		// the way `flux reconcile` does, at most every 2s, and count it.
		if o.ArtifactPending() && time.Since(nudged) > 2*time.Second {
			if requestReconcile(ctx, e, crds, p.A, c.Object) == nil {
				nudged = time.Now()
				ev.Attempts++
			}
		}
		return o.Conclusive(), nil
	})
	o.Elapsed = time.Since(start)
	if !o.Conclusive() {
		o.TimedOut = timeout
	}
	return result(c.Judge(o, p, c.ServiceAccount), o)
}

// requestReconcile sets Flux's reconcile.fluxcd.io/requestedAt annotation.
func requestReconcile(ctx context.Context, e env, crds installed, ns, name string) error {
	patch := fmt.Sprintf(`{"metadata":{"annotations":{"reconcile.fluxcd.io/requestedAt":%q}}}`, time.Now().Format(time.RFC3339Nano))
	_, err := e.dyn.Resource(*crds.kustomization).Namespace(ns).Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	return err
}

func (c LiveCheck) action(p Pair) string {
	sa := "no serviceAccountName"
	if c.ServiceAccount != "" {
		sa = "serviceAccountName " + c.ServiceAccount
	}
	src := "ExternalArtifact " + p.A + "/" + sourceName
	if c.CrossNamespaceSource {
		src = "ExternalArtifact " + p.B + "/" + sourceName
	}
	return fmt.Sprintf("create Kustomization %s/%s (%s, source %s, content ConfigMap %s/%s)", p.A, c.Object, sa, src, c.contentNamespace(p), c.Object)
}

func (c LiveCheck) expected(p Pair) string {
	switch {
	case c.CrossNamespaceSource:
		return "Ready=False AccessDenied: cross-namespace references have been blocked"
	case c.ServiceAccount != "":
		return fmt.Sprintf("Ready=False, Forbidden as system:serviceaccount:%s:%s; no ConfigMap in %s", p.A, c.ServiceAccount, p.B)
	}
	return fmt.Sprintf("Ready=False, Forbidden as system:serviceaccount:%s:<default service account>; no ConfigMap in %s", p.A, p.B)
}

// kustomization is the object the check creates. It never prunes and never
// waits: only the first apply matters.
func (c LiveCheck) kustomization(crds installed, in Input, p Pair) *unstructured.Unstructured {
	ref := map[string]any{"kind": "ExternalArtifact", "name": sourceName}
	if c.CrossNamespaceSource {
		ref["namespace"] = p.B
	}
	spec := map[string]any{
		"interval": "10m", "retryInterval": "1m", "timeout": "30s", "prune": false, "wait": false,
		"path": "./" + c.Object, "sourceRef": ref,
	}
	if c.ServiceAccount != "" {
		spec["serviceAccountName"] = c.ServiceAccount
	}
	if !c.ContentInB {
		spec["targetNamespace"] = p.A
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": crds.kustomization.GroupVersion().String(), "kind": "Kustomization",
		"metadata": map[string]any{"name": c.Object, "namespace": p.A},
		"spec":     spec,
	}}
	u.SetLabels(maps.Clone(in.Labels))
	return u
}

// cleanUp deletes what the live checks created, the content that may have
// landed in the tenants included, and does not rely on the run deleting
// namespaces: an audit's tenants stay. A Kustomization keeps a finalizer
// that only the controller removes; if it has not within the bound, the
// finalizer is dropped so that nothing hangs.
func cleanUp(ctx context.Context, e env, crds installed, in Input, p Pair) error {
	var errs []error
	del := func(err error, what string) {
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete %s: %w", what, err))
		}
	}
	ks := e.dyn.Resource(*crds.kustomization).Namespace(p.A)
	for _, c := range LiveChecks {
		del(ks.Delete(ctx, c.Object, metav1.DeleteOptions{}), "Kustomization "+p.A+"/"+c.Object)
	}
	gone := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		for _, c := range LiveChecks {
			if _, err := ks.Get(ctx, c.Object, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				return false, nil
			}
		}
		return true, nil
	})
	if gone != nil {
		for _, c := range LiveChecks {
			_, err := ks.Patch(ctx, c.Object, types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
			del(err, "the finalizer of Kustomization "+p.A+"/"+c.Object)
		}
	}
	for _, ns := range []string{p.A, p.B} {
		if crds.externalArtifact != nil {
			del(e.dyn.Resource(*crds.externalArtifact).Namespace(ns).Delete(ctx, sourceName, metav1.DeleteOptions{}), "ExternalArtifact "+ns+"/"+sourceName)
		}
		for _, c := range LiveChecks {
			// Only the run's own: in an audit the tenant's objects stay.
			cm, err := e.cs.CoreV1().ConfigMaps(ns).Get(ctx, c.Object, metav1.GetOptions{})
			if err == nil && isOurs(cm.Labels, in.Labels) {
				del(e.cs.CoreV1().ConfigMaps(ns).Delete(ctx, c.Object, metav1.DeleteOptions{}), "ConfigMap "+ns+"/"+c.Object)
			}
		}
	}
	if in.Outsider != "" {
		zero := int64(0)
		del(e.cs.CoreV1().Pods(in.Outsider).Delete(ctx, serverName, metav1.DeleteOptions{GracePeriodSeconds: &zero}), "pod "+in.Outsider+"/"+serverName)
		del(e.cs.CoreV1().ConfigMaps(in.Outsider).Delete(ctx, serverName, metav1.DeleteOptions{}), "ConfigMap "+in.Outsider+"/"+serverName)
	}
	return errors.Join(errs...)
}
