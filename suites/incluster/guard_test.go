package incluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/tenantcheck/tenantcheck/internal/baseline"
	"github.com/tenantcheck/tenantcheck/internal/incluster"
	"github.com/tenantcheck/tenantcheck/internal/kube"
	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/suites/suitekit"
)

const runner = "system:serviceaccount:" + sysNS + ":tenantcheck"

var (
	kustomizations  = schema.GroupVersionResource{Group: "kustomize.toolkit.fluxcd.io", Version: "v1", Resource: "kustomizations"}
	externalArtifts = schema.GroupVersionResource{Group: "source.toolkit.fluxcd.io", Version: "v1", Resource: "externalartifacts"}
)

// privilegeRow is one thing the in-cluster runner might do: what RBAC is
// asked (a SubjectAccessReview), the request itself sent with the runner's
// own token, and who must answer: "" (allowed), "RBAC", the guard
// (kube.GuardPolicy), or PodSecurity (the guard lets a dry-run through).
type privilegeRow struct {
	what string
	sar  authzv1.ResourceAttributes
	want string
	try  func(ctx context.Context) error
}

// answeredBy reads who answered a request: "" when it was allowed.
func answeredBy(err error) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "ValidatingAdmissionPolicy '"+kube.GuardPolicy+"'"):
		return kube.GuardPolicy
	case strings.Contains(msg, "violates PodSecurity"):
		return "PodSecurity"
	}
	if got, _ := kube.Classify(err); got == "Forbidden" {
		return "RBAC"
	}
	return "error: " + msg
}

// Must show 1 of issue 13: deploy/ applied, the runner's service account is
// allowed what an audit needs and refused everything else a security
// reviewer would ask about, by RBAC where RBAC can say it and by deploy/'s
// ValidatingAdmissionPolicy where it cannot. Each row is a
// SubjectAccessReview and the real request, made with the runner's token.
func TestRunnerLeastPrivilege(t *testing.T) {
	f := features.New("the in-cluster runner's privileges").
		WithLabel("mode", "incluster").WithLabel("check", "privileges").
		Assess("allowed what an audit needs, refused the rest", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			kc := suitekit.Client(ctx, t)
			admin := kc.Clientset
			guideTenants(ctx, t, admin)
			a, b := "incluster-tenant-a", "incluster-tenant-b"
			deploy := filepath.Join(suitekit.RepoRoot(), "deploy", "local")
			kubectl(t, cfg, "apply", "-k", deploy)
			t.Cleanup(func() { kubectlQuiet(cfg, "delete", "-k", deploy, "--wait=true", "--timeout=2m") })
			guardReady(ctx, t, admin)
			cs, rc, err := kc.AsServiceAccount(ctx, sysNS, "tenantcheck", 10*time.Minute)
			require.NoError(t, err, "a token of the runner's service account")
			dyn, err := dynamic.NewForConfig(rc)
			require.NoError(t, err)
			adminDyn, err := dynamic.NewForConfig(kc.Config)
			require.NoError(t, err)

			// What belongs to others: a tenant's pod, ConfigMap and
			// ExternalArtifact, a flux-system Kustomization, and a
			// namespace someone else labelled as tenantcheck's.
			theirs := map[string]string{suiteLabel: "yes"}
			other := kube.RestrictedPod(kube.PodOptions{Namespace: a, Name: "tenant-app", Image: suitekit.Options(t).Probe.Image,
				PullPolicy: corev1.PullPolicy(suitekit.Options(t).Probe.PullPolicy), Labels: map[string]string{"app": "web"}})
			other.Spec.Containers[0].Command = []string{"/agent", "serve", "--port", "8080"}
			_, err = admin.CoreV1().Pods(a).Create(ctx, other, metav1.CreateOptions{})
			require.NoError(t, err)
			_, err = admin.CoreV1().ConfigMaps(b).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "tenant-settings"}}, metav1.CreateOptions{})
			require.NoError(t, err)
			fake := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tc-not-ours", Labels: map[string]string{
				suiteLabel: "yes", baseline.LabelManagedBy: baseline.ManagedByTenantcheck}}}
			_, err = admin.CoreV1().Namespaces().Create(ctx, fake, metav1.CreateOptions{})
			require.NoError(t, err)
			t.Cleanup(func() {
				_ = admin.CoreV1().Namespaces().Delete(context.Background(), fake.Name, metav1.DeleteOptions{})
			})
			_, err = adminDyn.Resource(kustomizations).Namespace("flux-system").Create(ctx, kustomization("flux-system", "platform", theirs), metav1.CreateOptions{})
			require.NoError(t, err, "a Kustomization in flux-system (Flux's CRDs are installed on the local cluster)")
			t.Cleanup(func() {
				_ = adminDyn.Resource(kustomizations).Namespace("flux-system").Delete(context.Background(), "platform", metav1.DeleteOptions{})
			})
			_, err = adminDyn.Resource(externalArtifts).Namespace(a).Create(ctx, externalArtifact(a, "tenant-source", theirs), metav1.CreateOptions{})
			require.NoError(t, err)

			ours := baseline.OwnershipLabels("guardtest")
			probe := func(ns string) *corev1.Pod {
				p := kube.RestrictedPod(kube.PodOptions{Namespace: ns, Name: "tc-guard-probe", Image: suitekit.Options(t).Probe.Image,
					PullPolicy: corev1.PullPolicy(suitekit.Options(t).Probe.PullPolicy), Labels: ours})
				p.Spec.Containers[0].Command = []string{"/agent", "serve"}
				return p
			}
			create := func(p *corev1.Pod) func(ctx context.Context) error {
				return func(ctx context.Context) error {
					_, err := cs.CoreV1().Pods(p.Namespace).Create(ctx, p, metav1.CreateOptions{})
					if err == nil { // allowed: gone again at once
						_ = admin.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{})
					}
					return err
				}
			}
			unmarked := probe(a)
			unmarked.Labels = map[string]string{"app": "web"}
			mimic := probe(a)
			mimic.Name, mimic.Labels, mimic.Annotations = "tc-mimic-0", map[string]string{"app": "web", "tier": "frontend"}, ours
			withToken := probe(a)
			withToken.Spec.AutomountServiceAccountToken = nil
			asReconciler := probe(a)
			asReconciler.Spec.ServiceAccountName = "tenant-reconciler"
			privileged := probe(a)
			privileged.Labels = nil
			privileged.Spec.Containers[0].SecurityContext.Privileged = ptr(true)
			privileged.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = ptr(true)
			ownNS := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tc-guardtest-x", Labels: ours}}
			tokenOf := func(ns, sa string) func(ctx context.Context) error {
				return func(ctx context.Context) error {
					_, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa,
						&authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{ExpirationSeconds: ptr(int64(600))}}, metav1.CreateOptions{})
					return err
				}
			}
			res := func(verb, group, resource, sub, ns, name string) authzv1.ResourceAttributes {
				return authzv1.ResourceAttributes{Verb: verb, Group: group, Resource: resource, Subresource: sub, Namespace: ns, Name: name}
			}
			rows := []privilegeRow{
				// What an audit needs.
				{"list pods in every namespace", res("list", "", "pods", "", "", ""), "", func(ctx context.Context) error {
					_, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{Limit: 1})
					return err
				}},
				{"create its marked probe pod in a tenant", res("create", "", "pods", "", a, ""), "", create(probe(a))},
				// A mimic of a tenant's workload carries the tenant's labels
				// only (a policy must not tell it apart) and tenantcheck's
				// marks as annotations: the guard must let it in, or the
				// workload check would have nothing to judge.
				{"create a mimic (the tenant's labels, its marks as annotations)", res("create", "", "pods", "", a, ""), "", create(mimic)},
				{"create its marked Service in a tenant", res("create", "", "services", "", a, ""), "", func(ctx context.Context) error {
					svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "tc-guard-svc", Labels: ours},
						Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}
					_, err := cs.CoreV1().Services(a).Create(ctx, svc, metav1.CreateOptions{})
					if err == nil {
						err = cs.CoreV1().Services(a).Delete(ctx, svc.Name, metav1.DeleteOptions{})
					}
					return err
				}},
				{"mint a token for a tenant's default account", res("create", "", "serviceaccounts", "token", a, "default"), "", tokenOf(a, "default")},
				{"create and delete its own tc- namespace", res("create", "", "namespaces", "", "", ""), "", func(ctx context.Context) error {
					if _, err := cs.CoreV1().Namespaces().Create(ctx, ownNS, metav1.CreateOptions{}); err != nil {
						return err
					}
					return cs.CoreV1().Namespaces().Delete(ctx, ownNS.Name, metav1.DeleteOptions{})
				}},
				{"record its Broken events on a tenant", res("create", "", "events", "", a, ""), "", func(ctx context.Context) error {
					r := model.NewReport(model.Metadata{Mode: model.ModeAudit, RunID: "guardtest"}, []model.Result{
						model.Check{ID: "network/guard-test", Layer: model.LayerNetwork, Name: "guard test"}.Result(model.Broken("leak"))}, nil)
					return incluster.EmitBrokenEvents(ctx, cs, r, []string{a})
				}},
				{"take and drop the Lease in its own namespace", res("create", "coordination.k8s.io", "leases", "", sysNS, ""), "", func(ctx context.Context) error {
					l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "tc-guard-lease"}}
					if _, err := cs.CoordinationV1().Leases(sysNS).Create(ctx, l, metav1.CreateOptions{}); err != nil {
						return err
					}
					return cs.CoordinationV1().Leases(sysNS).Delete(ctx, l.Name, metav1.DeleteOptions{})
				}},
				{"sweep its own pods from a tenant by label", res("deletecollection", "", "pods", "", a, ""), "", func(ctx context.Context) error {
					return cs.CoreV1().Pods(a).DeleteCollection(ctx, metav1.DeleteOptions{},
						metav1.ListOptions{LabelSelector: baseline.LabelRun + "=guardtest"})
				}},
				{"server dry-run of a privileged pod: left to the tenant's Pod Security", res("create", "", "pods", "", a, ""), "PodSecurity", func(ctx context.Context) error {
					_, err := cs.CoreV1().Pods(a).Create(ctx, privileged, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
					return err
				}},

				// What the guard takes back from the ClusterRole.
				// (A tenant's ConfigMap, a flux-system Kustomization and an
				// ExternalArtifact's status are RBAC's to refuse here; with
				// components/flux-live, the guard's: see below.)
				{"create a pod in kube-system", res("create", "", "pods", "", "kube-system", ""), kube.GuardPolicy, create(probe("kube-system"))},
				{"create a pod in a namespace of no tenant", res("create", "", "pods", "", "default", ""), kube.GuardPolicy, create(probe("default"))},
				{"create a pod without its marks in a tenant", res("create", "", "pods", "", a, ""), kube.GuardPolicy, create(unmarked)},
				{"create a pod that mounts a token", res("create", "", "pods", "", a, ""), kube.GuardPolicy, create(withToken)},
				{"create a pod as the tenant's reconciler", res("create", "", "pods", "", a, ""), kube.GuardPolicy, create(asReconciler)},
				{"delete a tenant's pod", res("delete", "", "pods", "", a, "tenant-app"), kube.GuardPolicy, func(ctx context.Context) error {
					return cs.CoreV1().Pods(a).Delete(ctx, "tenant-app", metav1.DeleteOptions{})
				}},
				{"delete every pod of a tenant (deletecollection)", res("deletecollection", "", "pods", "", a, ""), kube.GuardPolicy, func(ctx context.Context) error {
					return cs.CoreV1().Pods(a).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
				}},
				{"mint a token for a kube-system account", res("create", "", "serviceaccounts", "token", "kube-system", "default"), kube.GuardPolicy, tokenOf("kube-system", "default")},
				{"mint a token for an account of its own namespace", res("create", "", "serviceaccounts", "token", sysNS, "tenantcheck"), kube.GuardPolicy, tokenOf(sysNS, "tenantcheck")},
				{"delete a tenant namespace", res("delete", "", "namespaces", "", "", b), kube.GuardPolicy, func(ctx context.Context) error {
					return cs.CoreV1().Namespaces().Delete(ctx, b, metav1.DeleteOptions{})
				}},
				{"delete a tc- namespace someone else labelled managed-by=tenantcheck", res("delete", "", "namespaces", "", "", fake.Name), kube.GuardPolicy, func(ctx context.Context) error {
					return cs.CoreV1().Namespaces().Delete(ctx, fake.Name, metav1.DeleteOptions{})
				}},
				{"delete a tenant's ConfigMap", res("delete", "", "configmaps", "", b, "tenant-settings"), "RBAC", func(ctx context.Context) error {
					return cs.CoreV1().ConfigMaps(b).Delete(ctx, "tenant-settings", metav1.DeleteOptions{})
				}},
				{"patch a flux-system Kustomization", res("patch", "kustomize.toolkit.fluxcd.io", "kustomizations", "", "flux-system", "platform"), "RBAC", func(ctx context.Context) error {
					_, err := dyn.Resource(kustomizations).Namespace("flux-system").Patch(ctx, "platform", types.MergePatchType,
						[]byte(`{"spec":{"path":"./elsewhere"}}`), metav1.PatchOptions{})
					return err
				}},
				{"update the status of an ExternalArtifact it did not create", res("update", "source.toolkit.fluxcd.io", "externalartifacts", "status", a, "tenant-source"), "RBAC", func(ctx context.Context) error {
					u, err := dyn.Resource(externalArtifts).Namespace(a).Get(ctx, "tenant-source", metav1.GetOptions{})
					if err != nil {
						return err
					}
					_ = unstructured.SetNestedField(u.Object, map[string]any{"revision": "evil", "url": "http://attacker.invalid/a.tar.gz",
						"path": "a.tar.gz", "digest": "sha256:" + strings.Repeat("0", 64), "lastUpdateTime": time.Now().UTC().Format(time.RFC3339)}, "status", "artifact")
					_, err = dyn.Resource(externalArtifts).Namespace(a).UpdateStatus(ctx, u, metav1.UpdateOptions{})
					return err
				}},

				// What RBAC never grants.
				{"read a tenant's Secrets", res("list", "", "secrets", "", a, ""), "RBAC", func(ctx context.Context) error {
					_, err := cs.CoreV1().Secrets(a).List(ctx, metav1.ListOptions{})
					return err
				}},
				{"create a Deployment in a tenant", res("create", "apps", "deployments", "", a, ""), "RBAC", func(ctx context.Context) error {
					d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "tc-guard", Labels: ours}, Spec: appsv1.DeploymentSpec{
						Selector: &metav1.LabelSelector{MatchLabels: ours},
						Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: ours}, Spec: probe(a).Spec}}}
					_, err := cs.AppsV1().Deployments(a).Create(ctx, d, metav1.CreateOptions{})
					return err
				}},
				{"change a tenant's ConfigMap", res("update", "", "configmaps", "", b, "tenant-settings"), "RBAC", func(ctx context.Context) error {
					_, err := cs.CoreV1().ConfigMaps(b).Update(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "tenant-settings", Namespace: b},
						Data: map[string]string{"x": "y"}}, metav1.UpdateOptions{})
					return err
				}},
				{"exec into a tenant's pod", res("create", "", "pods", "exec", a, "tenant-app"), "RBAC", func(ctx context.Context) error {
					return cs.CoreV1().RESTClient().Post().Namespace(a).Resource("pods").Name("tenant-app").SubResource("exec").
						Param("command", "true").Param("stdout", "true").Do(ctx).Error()
				}},
				{"bind itself cluster-admin", res("create", "rbac.authorization.k8s.io", "clusterrolebindings", "", "", ""), "RBAC", func(ctx context.Context) error {
					crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "tc-guard-escalate", Labels: ours},
						RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "cluster-admin"},
						Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "tenantcheck", Namespace: sysNS}}}
					_, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{})
					return err
				}},
				{"act as another user (impersonation)", res("impersonate", "", "users", "", "", "admin"), "RBAC", func(ctx context.Context) error {
					as := rest.CopyConfig(rc)
					as.Impersonate = rest.ImpersonationConfig{UserName: "admin"}
					ics, err := kubernetes.NewForConfig(as)
					if err != nil {
						return err
					}
					_, err = ics.CoreV1().Namespaces().List(ctx, metav1.ListOptions{Limit: 1})
					return err
				}},
			}

			judge(ctx, t, admin, "deploy/local", rows)

			// With deploy/components/flux-live, RBAC grants the live checks'
			// rights cluster-wide; the guard still confines them to what the
			// run marked.
			withLive := t.TempDir()
			rel, err := filepath.Rel(withLive, deploy)
			require.NoError(t, err)
			comp, err := filepath.Rel(withLive, filepath.Join(suitekit.RepoRoot(), "deploy", "components", "flux-live"))
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(withLive, "kustomization.yaml"),
				[]byte("resources: ["+rel+"]\ncomponents: ["+comp+"]\n"), 0o644))
			kubectl(t, cfg, "apply", "-k", withLive)
			t.Cleanup(func() { kubectlQuiet(cfg, "delete", "clusterrolebinding,clusterrole", "tenantcheck-flux-live") })
			byName := map[string]privilegeRow{}
			for _, r := range rows {
				byName[r.what] = r
			}
			var live []privilegeRow
			for _, name := range []string{"delete a tenant's ConfigMap", "patch a flux-system Kustomization", "update the status of an ExternalArtifact it did not create"} {
				r := byName[name]
				r.want = kube.GuardPolicy
				live = append(live, r)
			}
			live = append(live, privilegeRow{"create and delete its marked Kustomization in a tenant", res("create", "kustomize.toolkit.fluxcd.io", "kustomizations", "", a, ""), "", func(ctx context.Context) error {
				if _, err := dyn.Resource(kustomizations).Namespace(a).Create(ctx, kustomization(a, "tc-guard-ks", ours), metav1.CreateOptions{}); err != nil {
					return err
				}
				return dyn.Resource(kustomizations).Namespace(a).Delete(ctx, "tc-guard-ks", metav1.DeleteOptions{})
			}})
			require.Eventually(t, func() bool {
				ok, err := sar(ctx, admin, live[1].sar)
				return err == nil && ok
			}, 30*time.Second, 250*time.Millisecond, "the flux-live ClusterRole is in effect")
			judge(ctx, t, admin, "deploy/local with components/flux-live", live)

			// Whatever was refused is still there.
			_, err = admin.CoreV1().Pods(a).Get(ctx, "tenant-app", metav1.GetOptions{})
			assert.NoError(t, err, "the tenant's pod survived")
			_, err = admin.CoreV1().ConfigMaps(b).Get(ctx, "tenant-settings", metav1.GetOptions{})
			assert.NoError(t, err, "the tenant's ConfigMap survived")
			ns, err := admin.CoreV1().Namespaces().Get(ctx, b, metav1.GetOptions{})
			require.NoError(t, err)
			assert.Nil(t, ns.DeletionTimestamp, "the tenant namespace survived")
			k, err := adminDyn.Resource(kustomizations).Namespace("flux-system").Get(ctx, "platform", metav1.GetOptions{})
			require.NoError(t, err)
			path, _, _ := unstructured.NestedString(k.Object, "spec", "path")
			assert.Equal(t, "./", path, "flux-system's Kustomization unchanged")
			return ctx
		}).Feature()
	testenv.Test(t, f)
}

// judge tries every row and prints the table: RBAC's answer (a
// SubjectAccessReview), what the row must get, and who answered the real
// request.
func judge(ctx context.Context, t *testing.T, admin kubernetes.Interface, setup string, rows []privilegeRow) {
	t.Helper()
	var table strings.Builder
	fmt.Fprintf(&table, "%-72s  %-11s  %-9s  %s\n", "the runner tries to", "RBAC (SAR)", "must be", "answered by")
	for _, r := range rows {
		allowed, err := sar(ctx, admin, r.sar)
		require.NoError(t, err, r.what)
		got := answeredBy(r.try(ctx))
		want, gotText := "allowed", "allowed"
		if r.want != "" {
			want = "refused"
		}
		if got != "" {
			gotText = got
		}
		fmt.Fprintf(&table, "%-72s  %-11s  %-9s  %s\n", r.what, map[bool]string{true: "allowed", false: "denied"}[allowed], want, gotText)
		assert.Equal(t, r.want, got, "%s (%s): answered by", r.what, setup)
		assert.Equal(t, r.want != "RBAC", allowed, "%s (%s): RBAC allows it exactly when RBAC is not what refuses it", r.what, setup)
	}
	t.Logf("the in-cluster runner's privileges with %s, each tried with its own token:\n%s", setup, table.String())
}

// sar asks the API server whether RBAC lets the runner's service account do
// attrs.
func sar(ctx context.Context, admin kubernetes.Interface, attrs authzv1.ResourceAttributes) (bool, error) {
	r, err := admin.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
		User: runner, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + sysNS, "system:authenticated"},
		ResourceAttributes: &attrs}}, metav1.CreateOptions{})
	if err != nil {
		return false, err
	}
	return r.Status.Allowed, nil
}

// guardReady waits until the guard's policy has been type-checked and its
// binding is in place: the API server applies it a moment after creation.
func guardReady(ctx context.Context, t *testing.T, cs kubernetes.Interface) {
	require.Eventually(t, func() bool {
		p, err := cs.AdmissionregistrationV1().ValidatingAdmissionPolicies().Get(ctx, kube.GuardPolicy, metav1.GetOptions{})
		if err != nil || p.Status.ObservedGeneration != p.Generation {
			return false
		}
		if tc := p.Status.TypeChecking; tc != nil && len(tc.ExpressionWarnings) > 0 {
			t.Fatalf("the guard's expressions do not type-check: %+v", tc.ExpressionWarnings)
		}
		_, err = cs.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Get(ctx, kube.GuardPolicy, metav1.GetOptions{})
		return err == nil
	}, time.Minute, 250*time.Millisecond, "the guard policy is in place")
	// The policy takes effect when the API server's informer has it.
	time.Sleep(2 * time.Second)
}

func kustomization(ns, name string, labels map[string]string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec": map[string]any{"interval": "1h", "path": "./", "prune": false, "suspend": true,
			"sourceRef": map[string]any{"kind": "GitRepository", "name": "platform"}},
	}}
	u.SetLabels(labels)
	return u
}

func externalArtifact(ns, name string, labels map[string]string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "ExternalArtifact",
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec":     map[string]any{},
	}}
	u.SetLabels(labels)
	return u
}

// kubectlQuiet runs kubectl for a cleanup, whatever it answers.
func kubectlQuiet(cfg *envconf.Config, args ...string) {
	_ = exec.Command("kubectl", append([]string{"--kubeconfig", cfg.KubeconfigFile()}, args...)...).Run()
}

func ptr[T any](v T) *T { return &v }
