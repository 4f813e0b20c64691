package podsecurity

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/tenantcheck/tenantcheck/internal/kube"
	"github.com/tenantcheck/tenantcheck/internal/model"
)

var podsGR = schema.GroupResource{Resource: "pods"}

// psaRefusal is the API server's answer when Pod Security admission refuses a pod.
func psaRefusal(name string) error {
	return apierrors.NewForbidden(podsGR, name,
		errors.New(`violates PodSecurity "restricted:latest": privileged (container "probe" must not set securityContext.privileged=true)`))
}

func TestRefuser(t *testing.T) {
	assert.Equal(t, "PodSecurity", refuser(psaRefusal("p").Error()))
	assert.Equal(t, "ValidatingAdmissionPolicy/no-hostpath", refuser(`pods "p" is forbidden: ValidatingAdmissionPolicy 'no-hostpath' with binding 'b' denied request: no`))
	assert.Equal(t, "webhook/pods.gatekeeper.sh", refuser(`admission webhook "pods.gatekeeper.sh" denied the request: no`))
	assert.Empty(t, refuser(`exceeded quota: q, requested: pods=1, used: pods=1, limited: pods=1`))
}

func TestParseLevel(t *testing.T) {
	for raw, want := range map[string]Level{"": Privileged, "privileged": Privileged, "baseline": Baseline, "restricted": Restricted} {
		got, ok := parseLevel(raw)
		assert.True(t, ok, raw)
		assert.Equal(t, want, got, raw)
	}
	for _, raw := range []string{"Restricted", "restricted ", "strict", "latest"} {
		_, ok := parseLevel(raw)
		assert.False(t, ok, "%q is not a level: Pod Security Admission does not read it as one", raw)
	}
}

func TestOutcome(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want model.APIOutcome
		raw  string
	}{
		{"admitted", nil, model.APIAdmitted, "admitted"},
		{"pod security refuses", psaRefusal("p"), model.APIRejected, "violates PodSecurity"},
		// Other Pod Security controls: an admission policy, a webhook.
		{"admission policy refuses", apierrors.NewForbidden(podsGR, "p",
			errors.New(`ValidatingAdmissionPolicy 'tenant-pod-security' with binding 'tenant-pod-security' denied request: hostPath volumes are not allowed`)), model.APIRejected, "tenant-pod-security"},
		{"webhook refuses", apierrors.NewForbidden(podsGR, "p",
			errors.New(`admission webhook "validate.kyverno.svc-fail" denied the request: privileged containers are not allowed`)), model.APIRejected, "kyverno"},
		// An identity that may not create pods at all: Forbidden, which the
		// layer reads as "this identity has nothing to show", never a
		// rejection.
		{"authoriser refuses", apierrors.NewForbidden(podsGR, "p",
			errors.New(`User "x" cannot create resource "pods" in API group "" in the namespace "a"`)), model.APIForbidden, "cannot create"},
		// Quota is another admission plugin: a refusal by it proves nothing here.
		{"quota refuses", apierrors.NewForbidden(podsGR, "p",
			errors.New(`exceeded quota: tenant-a-quota, requested: pods=1, used: pods=100, limited: pods=100`)), model.APIError, "not by a Pod Security control"},
		{"invalid pod", apierrors.NewInvalid(schema.GroupKind{Kind: "Pod"}, "p",
			field.ErrorList{field.Invalid(field.NewPath("spec"), "x", "bad")}), model.APIError, "not admitted, and not refused either"},
		{"server down", errors.New("connection refused"), model.APIError, "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, raw := Outcome(tt.err)
			assert.Equal(t, tt.want, got)
			assert.Contains(t, raw, tt.raw)
		})
	}
}

// The positive control only proves something if the pod really satisfies
// "restricted".
func TestCompliantPodIsRestricted(t *testing.T) {
	p := compliantPod("a", "img")
	assert.Equal(t, "a", p.Namespace)
	require.NotNil(t, p.Spec.SecurityContext)
	assert.Equal(t, ptr(true), p.Spec.SecurityContext.RunAsNonRoot)
	require.NotNil(t, p.Spec.SecurityContext.SeccompProfile)
	assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, p.Spec.SecurityContext.SeccompProfile.Type)
	require.Len(t, p.Spec.Containers, 1)
	sc := p.Spec.Containers[0].SecurityContext
	require.NotNil(t, sc)
	assert.Equal(t, ptr(false), sc.AllowPrivilegeEscalation)
	require.NotNil(t, sc.Capabilities)
	assert.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop)
	assert.Empty(t, sc.Capabilities.Add)
	assert.Nil(t, sc.Privileged)
	assert.False(t, p.Spec.HostNetwork || p.Spec.HostPID || p.Spec.HostIPC)
	assert.Empty(t, p.Spec.Volumes)
}

// A violation class whose mutation changed nothing would report the
// compliant pod's admission as a broken policy.
func TestChecksMutate(t *testing.T) {
	ids := map[string]bool{}
	for _, c := range Checks {
		t.Run(c.ID, func(t *testing.T) {
			assert.False(t, ids[c.ID], "duplicate check id")
			ids[c.ID] = true
			assert.True(t, strings.HasPrefix(c.ID, "podsecurity/"))
			assert.Contains(t, []Level{Baseline, Restricted}, c.ForbiddenFrom)
			p := compliantPod("a", "img")
			c.Mutate(p)
			assert.False(t, reflect.DeepEqual(compliantPod("a", "img"), p), "mutation changed nothing")
		})
	}
}

// podSecurity stands in for the API server's Pod Security admission: it
// admits exactly the compliant pod (without persisting anything, as a
// dry-run would) and refuses every other one.
func podSecurity(image string) k8stesting.ReactionFunc {
	return func(a k8stesting.Action) (bool, runtime.Object, error) {
		pod := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
		if apiequality.Semantic.DeepEqual(pod.Spec, compliantPod(a.GetNamespace(), image).Spec) {
			return true, pod, nil
		}
		return true, nil, psaRefusal(pod.Name)
	}
}

// admitAll is a cluster without Pod Security admission.
func admitAll(a k8stesting.Action) (bool, runtime.Object, error) {
	return true, a.(k8stesting.CreateAction).GetObject(), nil
}

// denyAll is a runner that may not create pods at all.
func denyAll(a k8stesting.Action) (bool, runtime.Object, error) {
	return true, nil, apierrors.NewForbidden(podsGR, "p",
		errors.New(`User "x" cannot create resource "pods" in API group "" in the namespace "a"`))
}

func namespaceEnforcing(name, level string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{labelEnforce: level}}}
}

// failedCreate is the event a ReplicaSet leaves when Pod Security refuses
// its pod; with it in place the workload check answers on its first poll
// instead of waiting 20s for a controller the fake clientset does not run.
func failedCreate(ns string) *corev1.Event {
	return &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "rs.1", Namespace: ns},
		InvolvedObject: corev1.ObjectReference{Kind: "ReplicaSet", Name: "tc-privileged-workload-1"},
		Reason:         "FailedCreate",
		Message:        `Error creating: pods "x" is forbidden: violates PodSecurity "restricted:latest": privileged`,
	}
}

// replicaSetOf stands in for the Deployment controller: the ReplicaSet it
// would make for the Deployment the layer creates (whose UID the reactor
// in run sets), and the FailedCreate event Pod Security would leave on it.
// Another object's FailedCreate sits beside it, and must not count.
func replicaSetOf(ns string) []runtime.Object {
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "tc-privileged-workload-1", Namespace: ns, UID: "rs-uid",
		OwnerReferences: []metav1.OwnerReference{{Kind: "Deployment", Name: "tc-privileged-workload", UID: "dep-uid"}}}}
	ev := failedCreate(ns)
	ev.InvolvedObject.UID = "rs-uid"
	other := failedCreate(ns)
	other.Name, other.InvolvedObject.Name, other.InvolvedObject.UID = "other.1", "someone-else", "other-uid"
	return []runtime.Object{rs, ev, other}
}

func TestRun(t *testing.T) {
	const image = "img"
	restricted := model.PodSecurityExpectation{}
	tests := []struct {
		name    string
		objs    []runtime.Object
		reactor k8stesting.ReactionFunc
		expect  model.PodSecurityExpectation
		// runnerOnly: no tenant account to act as.
		runnerOnly bool
		want       map[string]model.Verdict
	}{
		{"restricted namespace, pod security on",
			append([]runtime.Object{namespaceEnforcing("a", "restricted")}, replicaSetOf("a")...), podSecurity(image), restricted, false,
			map[string]model.Verdict{
				"podsecurity/namespace-enforces-restricted": model.VerdictHeld,
				"podsecurity/compliant-pod-admitted":        model.VerdictHeld,
				"podsecurity/privileged":                    model.VerdictHeld,
				"podsecurity/run-as-root":                   model.VerdictHeld,
				"podsecurity/privileged-workload-blocked":   model.VerdictHeld,
			}},
		// The spec holds the tenant to restricted; the namespace says
		// privileged and the API server admits everything: the label and
		// every class the tenant can now get admitted break.
		{"privileged namespace, restricted declared",
			[]runtime.Object{namespaceEnforcing("a", "privileged")}, admitAll, restricted, false,
			map[string]model.Verdict{
				"podsecurity/namespace-enforces-restricted": model.VerdictBroken,
				"podsecurity/compliant-pod-admitted":        model.VerdictHeld,
				"podsecurity/privileged":                    model.VerdictBroken,
				// Never tried: the Deployment would persist a privileged pod.
				"podsecurity/privileged-workload-blocked": model.VerdictSkipped,
			}},
		// A tenant the spec declares privileged is judged against that.
		{"privileged namespace, privileged declared",
			[]runtime.Object{namespaceEnforcing("a", "privileged")}, admitAll, model.PodSecurityExpectation{Level: "privileged"}, false,
			map[string]model.Verdict{
				"podsecurity/namespace-enforces-restricted": model.VerdictHeld,
				"podsecurity/privileged":                    model.VerdictHeld,
				"podsecurity/run-as-root":                   model.VerdictHeld,
			}},
		// "Restricted" is not a level: its own finding, naming the label.
		{"malformed label",
			append([]runtime.Object{namespaceEnforcing("a", "Restricted")}, replicaSetOf("a")...), podSecurity(image), restricted, false,
			map[string]model.Verdict{
				"podsecurity/namespace-enforces-restricted": model.VerdictBroken,
				"podsecurity/privileged":                    model.VerdictHeld,
			}},
		// The label says restricted, but nothing enforces it.
		{"restricted label, no enforcement",
			[]runtime.Object{namespaceEnforcing("a", "restricted")}, admitAll, restricted, false,
			map[string]model.Verdict{
				"podsecurity/namespace-enforces-restricted": model.VerdictHeld,
				"podsecurity/compliant-pod-admitted":        model.VerdictHeld,
				"podsecurity/privileged":                    model.VerdictBroken,
				"podsecurity/privilege-escalation":          model.VerdictBroken,
				"podsecurity/privileged-workload-blocked":   model.VerdictSkipped,
			}},
		// Only the runner could try, and was admitted. Where the label
		// alone enforces, Pod Security let the pod into the namespace:
		// Broken. Where an admission policy enforces, it may exempt
		// admins: that proves nothing either way.
		{"runner only, admitted, label enforces",
			[]runtime.Object{namespaceEnforcing("a", "restricted")}, admitAll, restricted, true,
			map[string]model.Verdict{
				"podsecurity/compliant-pod-admitted": model.VerdictHeld,
				"podsecurity/privileged":             model.VerdictBroken,
			}},
		{"runner only, admitted, policy enforces",
			[]runtime.Object{namespaceEnforcing("a", "")}, admitAll,
			model.PodSecurityExpectation{EnforcedBy: []string{"ValidatingAdmissionPolicy/p"}}, true,
			map[string]model.Verdict{
				"podsecurity/compliant-pod-admitted": model.VerdictHeld,
				"podsecurity/privileged":             model.VerdictError,
			}},
		// An authoriser's refusal is not Pod Security's: every try is an
		// Error, never a Held rejection.
		{"nobody may create pods",
			[]runtime.Object{namespaceEnforcing("a", "restricted")}, denyAll, restricted, false,
			map[string]model.Verdict{
				"podsecurity/namespace-enforces-restricted": model.VerdictHeld,
				"podsecurity/compliant-pod-admitted":        model.VerdictError,
				"podsecurity/privileged":                    model.VerdictError,
				"podsecurity/privileged-workload-blocked":   model.VerdictSkipped,
			}},
		{"missing namespace", nil, admitAll, restricted, false,
			map[string]model.Verdict{
				"podsecurity/namespace-enforces-restricted": model.VerdictError,
				"podsecurity/privileged":                    model.VerdictError,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := fake.NewClientset(tt.objs...)
			cs.PrependReactor("create", "pods", tt.reactor)
			cs.PrependReactor("create", "deployments", setUID("dep-uid"))
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			start := time.Now()
			in := Input{Namespaces: []string{"a"}, Image: image, Provisioned: true,
				Expect: map[string]model.PodSecurityExpectation{"a": tt.expect}}
			if !tt.runnerOnly {
				in.Accounts = []kube.Accounts{{Namespace: "a", Names: []string{"default", "tenant-reconciler"}}}
				in.AsServiceAccount = func(context.Context, string, string) (kubernetes.Interface, error) { return cs, nil }
			}
			results := Run(ctx, &kube.Client{Clientset: cs}, in)
			assert.Less(t, time.Since(start), 3*time.Second)

			// One result per check, in report order, whatever happened.
			var ids []string
			for _, r := range results {
				ids = append(ids, r.CheckID)
			}
			var want []string
			for _, c := range allChecks() {
				want = append(want, c.ID)
			}
			assert.Equal(t, want, ids)

			byID := map[string]model.Result{}
			for _, r := range results {
				byID[r.CheckID] = r
			}
			for id, v := range tt.want {
				assert.Equal(t, v, byID[id].Verdict, "%s: %s", id, byID[id].Reason)
			}
		})
	}
}

// setUID gives created objects a UID, as the API server would.
func setUID(uid types.UID) k8stesting.ReactionFunc {
	return func(a k8stesting.Action) (bool, runtime.Object, error) {
		obj := a.(k8stesting.CreateAction).GetObject()
		if m, ok := obj.(metav1.Object); ok {
			m.SetUID(uid)
		}
		return false, obj, nil
	}
}

// An audit never creates a privileged object in a real tenant.
func TestAuditCreatesNoWorkload(t *testing.T) {
	cs := fake.NewClientset(namespaceEnforcing("a", "restricted"))
	cs.PrependReactor("create", "pods", podSecurity("img"))
	results := Run(context.Background(), &kube.Client{Clientset: cs}, Input{Namespaces: []string{"a"}, Image: "img"})
	for _, a := range cs.Actions() {
		assert.NotEqual(t, "deployments", a.GetResource().Resource, "an audit created a Deployment")
	}
	last := results[len(results)-1]
	assert.Equal(t, model.VerdictSkipped, last.Verdict)
	assert.Contains(t, last.Reason, "provision mode")
}

// A tenant account exempted by an admission policy is found, and named.
func TestExemptAccountIsBroken(t *testing.T) {
	cs := fake.NewClientset(namespaceEnforcing("a", "restricted"))
	exempt := fake.NewClientset()
	cs.PrependReactor("create", "pods", podSecurity("img"))
	exempt.PrependReactor("create", "pods", admitAll)
	in := Input{Namespaces: []string{"a"}, Image: "img",
		Accounts: []kube.Accounts{{Namespace: "a", Names: []string{"default", "ci"}}},
		AsServiceAccount: func(_ context.Context, _, sa string) (kubernetes.Interface, error) {
			if sa == "ci" {
				return exempt, nil
			}
			return cs, nil
		}}
	for _, r := range Run(context.Background(), &kube.Client{Clientset: cs}, in) {
		if r.CheckID == "podsecurity/host-path" {
			assert.Equal(t, model.VerdictBroken, r.Verdict)
			assert.Contains(t, r.Reason, "a/ci can create a pod with a hostPath volume")
			assert.Contains(t, r.Reason, "enforced by PodSecurity")
			assert.NotContains(t, r.Reason, "a/default")
		}
	}
}

// The evidence of each dry-run try is a command that submits the same pod
// to the same cluster again.
func TestRunEvidence(t *testing.T) {
	cs := fake.NewClientset(append([]runtime.Object{namespaceEnforcing("a", "restricted")}, replicaSetOf("a")...)...)
	cs.PrependReactor("create", "pods", podSecurity("img"))
	cs.PrependReactor("create", "deployments", setUID("dep-uid"))
	c := &kube.Client{Clientset: cs, Kubeconfig: "/k", Context: "c"}
	results := Run(context.Background(), c, Input{Namespaces: []string{"a"}, Image: "img", Provisioned: true})
	for _, r := range results {
		require.NotEmpty(t, r.Evidence, r.CheckID)
		for _, e := range r.Evidence {
			assert.Contains(t, e.Repro, "kubectl --kubeconfig /k --context c", r.CheckID)
		}
	}
	for _, r := range results {
		if r.CheckID == "podsecurity/privileged" {
			assert.Contains(t, r.Evidence[0].Repro, "--dry-run=server")
			assert.Contains(t, r.Evidence[0].Raw, "violates PodSecurity")
		}
	}
}
