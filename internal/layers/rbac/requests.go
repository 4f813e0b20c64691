package rbac

import (
	"context"
	"errors"
	"fmt"
	"strings"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/tenantcheck/tenantcheck/internal/kube"
	"github.com/tenantcheck/tenantcheck/internal/model"
)

// The request builders of the checks. Every create, patch and bind is a
// server dry-run: the API server authorises, admits and validates it
// exactly as a real one, and persists nothing.

const (
	clusterScope = "cluster"
	// probeName names every object the checks submit.
	probeName = "tc-rbac-probe"
	// missingSecret need not exist: authorisation precedes existence.
	missingSecret = "tc-rbac-no-such-secret"
	// execTarget is the network layer's server pod; it need not exist.
	execTarget = "tc-probe-server"
	// impersonated is the user the impersonate check asks to act as.
	impersonated = "system:admin"
)

var (
	dryRun  = metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	listOne = metav1.ListOptions{Limit: 1}
)

func listSecrets(id Identity, ns string) Request {
	return Request{Action: "list secrets in " + ns, To: ns, Kubectl: "get secrets -n " + ns,
		Do: func(ctx context.Context) error {
			_, err := id.Client.CoreV1().Secrets(ns).List(ctx, listOne)
			return err
		}}
}

func getSecret(id Identity, ns string) Request {
	return Request{Action: "get secret " + missingSecret + " in " + ns, To: ns,
		Kubectl: "get secret " + missingSecret + " -n " + ns,
		Do: func(ctx context.Context) error {
			_, err := id.Client.CoreV1().Secrets(ns).Get(ctx, missingSecret, metav1.GetOptions{})
			return err
		}}
}

func listConfigMaps(id Identity, ns string) Request {
	return Request{Action: "list configmaps in " + ns, To: ns, Kubectl: "get configmaps -n " + ns,
		Do: func(ctx context.Context) error {
			_, err := id.Client.CoreV1().ConfigMaps(ns).List(ctx, listOne)
			return err
		}}
}

func listPods(id Identity, ns string) Request {
	return Request{Action: "list pods in " + ns, To: ns, Kubectl: "get pods -n " + ns,
		Do: func(ctx context.Context) error {
			_, err := id.Client.CoreV1().Pods(ns).List(ctx, listOne)
			return err
		}}
}

func createConfigMap(id Identity, ns string) Request {
	return Request{Action: "create configmap " + probeName + " in " + ns + " (server dry-run)", To: ns,
		Kubectl: "create configmap " + probeName + " -n " + ns + " --dry-run=server",
		Do: func(ctx context.Context) error {
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: probeName, Namespace: ns}}
			_, err := id.Client.CoreV1().ConfigMaps(ns).Create(ctx, cm, dryRun)
			return err
		}}
}

// updateConfigMap PUTs a configmap that need not exist: authorisation comes
// first (403), then the handler answers 404 for a missing one.
func updateConfigMap(id Identity, ns string) Request {
	return Request{Action: "update (PUT) configmap " + probeName + " in " + ns + " (server dry-run)", To: ns,
		Kubectl: "auth can-i update configmaps -n " + ns,
		Do: func(ctx context.Context) error {
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: probeName, Namespace: ns}}
			_, err := id.Client.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{DryRun: dryRun.DryRun})
			return err
		}}
}

// createPod: the repro asks can-i, because `kubectl run` would submit a pod
// that Pod Security refuses, which would muddle what RBAC said.
func createPod(id Identity, ns string) Request {
	return Request{Action: "create pod " + probeName + " in " + ns + " (server dry-run)", To: ns,
		Kubectl: "auth can-i create pods -n " + ns,
		Do: func(ctx context.Context) error {
			_, err := id.Client.CoreV1().Pods(ns).Create(ctx, probePod(ns), dryRun)
			return err
		}}
}

// probePod satisfies Pod Security restricted and the guide's quota, so that
// a pod RBAC lets through reads as admitted rather than as another layer's
// refusal. Its image is never pulled: dry-run starts nothing.
func probePod(ns string) *corev1.Pod {
	return kube.RestrictedPod(kube.PodOptions{Namespace: ns, Name: probeName, Image: "registry.k8s.io/pause:3.10"})
}

// execPod POSTs to pods/exec without the streaming upgrade. Authorisation
// (verb create on pods/exec) runs first and answers 403; once it passes, the
// handler looks the pod up (404 when the network layer's pod is not there)
// and then refuses the plain POST (400 "Upgrade request required"). Either
// of those means the tenant may exec there. No command ever runs.
func execPod(id Identity, ns string) Request {
	return Request{Action: "exec into pod " + execTarget + " in " + ns, To: ns,
		Kubectl: "auth can-i create pods/" + execTarget + " --subresource=exec -n " + ns,
		Do: func(ctx context.Context) error {
			rc, ok := id.Client.CoreV1().RESTClient().(*rest.RESTClient)
			if !ok || rc == nil {
				return errors.New("exec: the client has no REST client")
			}
			return rc.Post().Namespace(ns).Resource("pods").Name(execTarget).SubResource("exec").
				Param("command", "true").Param("stdout", "true").Do(ctx).Error()
		}}
}

// streamPod POSTs to pods/attach or pods/portforward without the upgrade,
// as execPod does: a 403 is authorisation's, anything after it (404 for a
// missing pod, 400 for the missing upgrade) means the tenant may.
func streamPod(id Identity, ns, sub string) Request {
	return Request{Action: sub + " to pod " + execTarget + " in " + ns, To: ns,
		Kubectl: "auth can-i create pods/" + execTarget + " --subresource=" + sub + " -n " + ns,
		Do: func(ctx context.Context) error {
			rc, ok := id.Client.CoreV1().RESTClient().(*rest.RESTClient)
			if !ok || rc == nil {
				return errors.New(sub + ": the client has no REST client")
			}
			req := rc.Post().Namespace(ns).Resource("pods").Name(execTarget).SubResource(sub)
			if sub == "attach" {
				req = req.Param("stdout", "true")
			} else {
				req = req.Param("ports", "8080")
			}
			return req.Do(ctx).Error()
		}}
}

// ephemeral adds a debug container (kubectl debug's way in) to a pod that
// need not exist, with dry-run; verb is patch or update.
func ephemeral(id Identity, ns, verb string) Request {
	return Request{Action: verb + " pods/ephemeralcontainers of pod " + execTarget + " in " + ns + " (server dry-run)", To: ns,
		Kubectl: "auth can-i " + verb + " pods/" + execTarget + " --subresource=ephemeralcontainers -n " + ns,
		Do: func(ctx context.Context) error {
			if verb == "patch" {
				patch := []byte(`{"spec":{"ephemeralContainers":[{"name":"tc-debug","image":"registry.k8s.io/pause:3.10"}]}}`)
				_, err := id.Client.CoreV1().Pods(ns).Patch(ctx, execTarget, types.StrategicMergePatchType, patch,
					metav1.PatchOptions{DryRun: dryRun.DryRun}, "ephemeralcontainers")
				return err
			}
			p := probePod(ns)
			p.Name = execTarget
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
				Name: "tc-debug", Image: "registry.k8s.io/pause:3.10"}}}
			_, err := id.Client.CoreV1().Pods(ns).UpdateEphemeralContainers(ctx, execTarget, p, metav1.UpdateOptions{DryRun: dryRun.DryRun})
			return err
		}}
}

// foreignToken asks for a token of another tenant's default account. A
// token the API server hands out is dropped unread; it expires in ten
// minutes. The repro asks can-i, so that pasting it never prints a token.
func foreignToken(id Identity, ns string) Request {
	return Request{Action: "request a token for " + ns + "/" + DefaultServiceAccount, To: ns,
		Kubectl: "auth can-i create serviceaccounts/" + DefaultServiceAccount + " --subresource=token -n " + ns,
		Do: func(ctx context.Context) error {
			secs := int64(tokenTTL.Seconds())
			_, err := id.Client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, DefaultServiceAccount,
				&authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{ExpirationSeconds: &secs}}, metav1.CreateOptions{})
			return err
		}}
}

func listNamespaces(id Identity, _ string) Request {
	return Request{Action: "list namespaces", To: clusterScope, Kubectl: "get namespaces",
		Do: func(ctx context.Context) error {
			_, err := id.Client.CoreV1().Namespaces().List(ctx, listOne)
			return err
		}}
}

func listNodes(id Identity, _ string) Request {
	return Request{Action: "list nodes", To: clusterScope, Kubectl: "get nodes",
		Do: func(ctx context.Context) error {
			_, err := id.Client.CoreV1().Nodes().List(ctx, listOne)
			return err
		}}
}

// createClusterRole submits a ClusterRole without rules, which RBAC's
// escalation check always lets through: only the create verb is tested.
func createClusterRole(id Identity, _ string) Request {
	return Request{Action: "create ClusterRole " + probeName + " (server dry-run)", To: clusterScope,
		Kubectl: "auth can-i create clusterroles",
		Do: func(ctx context.Context) error {
			cr := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: probeName}}
			_, err := id.Client.RbacV1().ClusterRoles().Create(ctx, cr, dryRun)
			return err
		}}
}

// createClusterRoleBinding binds system:public-info-viewer, which every
// authenticated identity already holds, so the escalation check passes and
// only the create verb is tested.
func createClusterRoleBinding(id Identity, _ string) Request {
	const role = "system:public-info-viewer"
	return Request{Action: "create ClusterRoleBinding " + probeName + " to ClusterRole " + role + " (server dry-run)",
		To: clusterScope,
		Kubectl: fmt.Sprintf("create clusterrolebinding %s --clusterrole=%s %s --dry-run=server",
			probeName, role, id.SubjectFlag()),
		Do: func(ctx context.Context) error {
			crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: probeName},
				Subjects: []rbacv1.Subject{id.Subject()},
				RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role}}
			_, err := id.Client.RbacV1().ClusterRoleBindings().Create(ctx, crb, dryRun)
			return err
		}}
}

// bindClusterAdmin: a tenant allowed to create RoleBindings is still
// refused (403) unless it may bind cluster-admin or already holds all of
// it; RBAC's escalation check says so, and that counts as Forbidden.
func bindClusterAdmin(id Identity, ns string) Request {
	return Request{Action: "bind ClusterRole cluster-admin in " + ns + " (server dry-run)", To: ns,
		Kubectl: fmt.Sprintf("create rolebinding %s --clusterrole=cluster-admin %s -n %s --dry-run=server",
			probeName, id.SubjectFlag(), ns),
		Do: func(ctx context.Context) error {
			rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: probeName, Namespace: ns},
				Subjects: []rbacv1.Subject{id.Subject()},
				RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"}}
			_, err := id.Client.RbacV1().RoleBindings(ns).Create(ctx, rb, dryRun)
			return err
		}}
}

// impersonate lists configmaps of the identity's own namespace while
// asking to act as system:admin; impersonationOutcome reads the answer.
func impersonate(id Identity, ns string) Request {
	return Request{Action: "list configmaps in " + ns + " as " + impersonated + " (impersonation)", To: ns,
		Kubectl: "auth can-i impersonate users/" + impersonated,
		Do: func(ctx context.Context) error {
			if id.Person != nil {
				// The identity is itself impersonated, and impersonation
				// does not chain: ask the authorisers as it instead.
				ar := &authzv1.SelfSubjectAccessReview{Spec: authzv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authzv1.ResourceAttributes{
					Verb: "impersonate", Resource: "users", Name: impersonated}}}
				got, err := id.Client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, ar, metav1.CreateOptions{})
				switch {
				case err != nil:
					return err
				case got.Status.Allowed:
					return nil
				}
				return apierrors.NewForbidden(schema.GroupResource{Resource: "users"}, impersonated,
					fmt.Errorf("User %q cannot impersonate resource \"users\" (SelfSubjectAccessReview: %s)", id.User(), got.Status.Reason))
			}
			if id.Config == nil {
				return errors.New("impersonate: no client configuration for the identity")
			}
			cfg := rest.CopyConfig(id.Config)
			cfg.Impersonate = rest.ImpersonationConfig{UserName: impersonated}
			cs, err := kubernetes.NewForConfig(cfg)
			if err != nil {
				return fmt.Errorf("impersonating client: %w", err)
			}
			_, err = cs.CoreV1().ConfigMaps(ns).List(ctx, listOne)
			return err
		},
		Classify: kube.ClassifyImpersonation,
	}
}

func relabelNamespace(id Identity, ns string) Request {
	patch := []byte(`{"metadata":{"labels":{"pod-security.kubernetes.io/enforce":"privileged"}}}`)
	return Request{Action: "label namespace " + ns + " pod-security.kubernetes.io/enforce=privileged (server dry-run)", To: ns,
		Kubectl: "label namespace " + ns + " pod-security.kubernetes.io/enforce=privileged --overwrite --dry-run=server",
		Do: func(ctx context.Context) error {
			_, err := id.Client.CoreV1().Namespaces().Patch(ctx, ns, types.MergePatchType, patch,
				metav1.PatchOptions{DryRun: []string{metav1.DryRunAll}})
			return err
		}}
}

// replaceNamespace PUTs the namespace back with enforce=privileged. The
// tenant need not be able to read it: the object is built from its name,
// and a PUT without resourceVersion is authorised (403) before it is
// validated or compared (409, 422).
func replaceNamespace(id Identity, ns string) Request {
	return Request{Action: "update (PUT) namespace " + ns + " with pod-security.kubernetes.io/enforce=privileged (server dry-run)", To: ns,
		Kubectl: "auth can-i update namespaces/" + ns,
		Do: func(ctx context.Context) error {
			n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{
				"kubernetes.io/metadata.name": ns, "pod-security.kubernetes.io/enforce": "privileged"}}}
			_, err := id.Client.CoreV1().Namespaces().Update(ctx, n, metav1.UpdateOptions{DryRun: dryRun.DryRun})
			return err
		}}
}

// namespaceStatus PUTs the namespace's status subresource, as above.
func namespaceStatus(id Identity, ns string) Request {
	return Request{Action: "update (PUT) the status of namespace " + ns + " (server dry-run)", To: ns,
		Kubectl: "auth can-i update namespaces/" + ns + " --subresource=status",
		Do: func(ctx context.Context) error {
			n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
			_, err := id.Client.CoreV1().Namespaces().UpdateStatus(ctx, n, metav1.UpdateOptions{DryRun: dryRun.DryRun})
			return err
		}}
}

// whoami asks the API server who the token belongs to; a token accepted
// for someone else is an Error, not an admission.
func whoami(id Identity, _ string) Request {
	return Request{Action: "authenticate (SelfSubjectReview)", To: clusterScope, Kubectl: "auth whoami",
		Do: func(ctx context.Context) error {
			r, err := id.Client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authnv1.SelfSubjectReview{}, metav1.CreateOptions{})
			if err != nil {
				return err
			}
			if got := r.Status.UserInfo.Username; got != id.User() {
				return fmt.Errorf("the token authenticated as %q, not %q", got, id.User())
			}
			return nil
		}}
}

// everyones are the resource rules Kubernetes grants every identity:
// asking the API server what it itself may do, and reading the cluster's
// trust bundles. Anything else a rules review lists in another tenant's
// namespace, for a namespaced resource, is a grant there.
var everyones = map[string]bool{
	"authorization.k8s.io/selfsubjectaccessreviews": true,
	"authorization.k8s.io/selfsubjectrulesreviews":  true,
	"authentication.k8s.io/selfsubjectreviews":      true,
	"certificates.k8s.io/clustertrustbundles":       true,
}

// maxGrantsConfirmed bounds the SelfSubjectAccessReviews one rules review
// leads to.
const maxGrantsConfirmed = 24

// grantsFound is what rulesIn found: the identity's grants in the target
// namespace, each confirmed by a SelfSubjectAccessReview as the identity.
type grantsFound struct{ grants []string }

func (g grantsFound) Error() string { return "may " + strings.Join(g.grants, ", ") }

// noGrants: the rules review listed nothing beyond self-review.
type noGrants struct{ incomplete bool }

func (n noGrants) Error() string {
	msg := "SelfSubjectRulesReview lists no rule beyond self-review"
	if n.incomplete {
		msg += " (incomplete: an authoriser of this cluster cannot list its rules; the requests of the other checks still ask it)"
	}
	return msg
}

// rulesIn asks, as the identity, what it may do in another tenant's
// namespace (SelfSubjectRulesReview), and confirms each grant listed with a
// SelfSubjectAccessReview: a grant for a verb or a resource no other check
// tries is still found, and named.
func rulesIn(namespaced map[string]bool) func(id Identity, ns string) Request {
	return func(id Identity, ns string) Request { return rulesInWith(id, ns, namespaced) }
}

func rulesInWith(id Identity, ns string, namespaced map[string]bool) Request {
	return Request{Action: "list its rules in " + ns + " (SelfSubjectRulesReview), confirming each grant", To: ns,
		Kubectl: "auth can-i --list -n " + ns,
		Do: func(ctx context.Context) error {
			rr, err := id.Client.AuthorizationV1().SelfSubjectRulesReviews().Create(ctx,
				&authzv1.SelfSubjectRulesReview{Spec: authzv1.SelfSubjectRulesReviewSpec{Namespace: ns}}, metav1.CreateOptions{})
			if err != nil {
				return err
			}
			var found []string
			for _, c := range candidates(rr.Status.ResourceRules, namespaced) {
				c.Namespace = ns
				ar := &authzv1.SelfSubjectAccessReview{Spec: authzv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &c}}
				got, err := id.Client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, ar, metav1.CreateOptions{})
				if err != nil {
					return err
				}
				if got.Status.Allowed {
					found = append(found, describeAttrs(c))
				}
			}
			if len(found) > 0 {
				return grantsFound{grants: found}
			}
			return noGrants{incomplete: rr.Status.Incomplete}
		},
		Classify: func(err error) (model.APIOutcome, string) {
			var g grantsFound
			var n noGrants
			switch {
			case errors.As(err, &g):
				return model.APIAdmitted, g.Error()
			case errors.As(err, &n):
				return model.APIForbidden, n.Error()
			case err == nil:
				return model.APIError, "the rules review answered nothing"
			}
			return kube.Classify(err)
		},
	}
}

// candidates turns the listed rules into concrete questions, one per verb
// and resource (a wildcard asked as itself), at most maxGrantsConfirmed.
// Everyone's rules are left out, and so are cluster-scoped resources when
// namespaced ("group/resource" of every namespaced resource the API server
// serves) is known: a ClusterRoleBinding's grant on those is not one in the
// namespace, and the cluster checks and the binding scan judge it.
func candidates(rules []authzv1.ResourceRule, namespaced map[string]bool) []authzv1.ResourceAttributes {
	var out []authzv1.ResourceAttributes
	seen := map[string]bool{}
	for _, r := range rules {
		groups := r.APIGroups
		if len(groups) == 0 {
			groups = []string{""}
		}
		for _, g := range groups {
			for _, res := range r.Resources {
				resource, sub, _ := strings.Cut(res, "/")
				if everyones[g+"/"+resource] || (namespaced != nil && g != "*" && resource != "*" && !namespaced[g+"/"+resource]) {
					continue
				}
				for _, v := range r.Verbs {
					a := authzv1.ResourceAttributes{Verb: v, Group: g, Resource: resource, Subresource: sub}
					if len(r.ResourceNames) > 0 {
						a.Name = r.ResourceNames[0]
					}
					key := fmt.Sprintf("%v", a)
					if seen[key] || len(out) >= maxGrantsConfirmed {
						continue
					}
					seen[key] = true
					out = append(out, a)
				}
			}
		}
	}
	return out
}

func describeAttrs(a authzv1.ResourceAttributes) string {
	r := a.Resource
	if a.Subresource != "" {
		r += "/" + a.Subresource
	}
	if a.Group != "" {
		r += "." + a.Group
	}
	if a.Name != "" {
		r += " " + a.Name
	}
	return a.Verb + " " + r
}
