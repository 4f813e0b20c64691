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
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
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

func TestOutcome(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want model.APIOutcome
		raw  string
	}{
		{"admitted", nil, model.APIAdmitted, "admitted"},
		{"pod security refuses", psaRefusal("p"), model.APIRejected, "violates PodSecurity"},
		// The runner may lack the right to create pods: that says nothing
		// about Pod Security, and must not read as a rejection.
		{"authoriser refuses", apierrors.NewForbidden(podsGR, "p",
			errors.New(`User "x" cannot create resource "pods" in API group "" in the namespace "a"`)), model.APIError, "not by Pod Security"},
		// Quota is another admission plugin: a refusal by it proves nothing here.
		{"quota refuses", apierrors.NewForbidden(podsGR, "p",
			errors.New(`exceeded quota: tenant-a-quota, requested: pods=1, used: pods=100, limited: pods=100`)), model.APIError, "not by Pod Security"},
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

func TestRun(t *testing.T) {
	const image = "img"
	tests := []struct {
		name    string
		objs    []runtime.Object
		reactor k8stesting.ReactionFunc
		want    map[string]model.Verdict
	}{
		{"restricted namespace, pod security on",
			[]runtime.Object{namespaceEnforcing("a", "restricted"), failedCreate("a")}, podSecurity(image),
			map[string]model.Verdict{
				"podsecurity/namespace-enforces-restricted": model.VerdictHeld,
				"podsecurity/compliant-pod-admitted":        model.VerdictHeld,
				"podsecurity/privileged":                    model.VerdictHeld,
				"podsecurity/run-as-root":                   model.VerdictHeld,
				"podsecurity/privileged-workload-blocked":   model.VerdictHeld,
			}},
		// A namespace that declares privileged is judged against what it
		// declares: the privileged pod is expected in, so its admission
		// holds; the declared level itself is what breaks the guide.
		{"privileged namespace",
			[]runtime.Object{namespaceEnforcing("a", "privileged")}, admitAll,
			map[string]model.Verdict{
				"podsecurity/namespace-enforces-restricted": model.VerdictBroken,
				"podsecurity/compliant-pod-admitted":        model.VerdictHeld,
				"podsecurity/privileged":                    model.VerdictHeld,
				// Never tried: the Deployment would persist a privileged pod.
				"podsecurity/privileged-workload-blocked": model.VerdictSkipped,
			}},
		// The label says restricted, but nothing enforces it.
		{"restricted label, no enforcement",
			[]runtime.Object{namespaceEnforcing("a", "restricted")}, admitAll,
			map[string]model.Verdict{
				"podsecurity/namespace-enforces-restricted": model.VerdictHeld,
				"podsecurity/compliant-pod-admitted":        model.VerdictHeld,
				"podsecurity/privileged":                    model.VerdictBroken,
				"podsecurity/privilege-escalation":          model.VerdictBroken,
				"podsecurity/privileged-workload-blocked":   model.VerdictSkipped,
			}},
		// An authoriser's refusal is not Pod Security's: every try is an
		// Error, never a Held rejection.
		{"runner may not create pods",
			[]runtime.Object{namespaceEnforcing("a", "restricted")}, denyAll,
			map[string]model.Verdict{
				"podsecurity/namespace-enforces-restricted": model.VerdictHeld,
				"podsecurity/compliant-pod-admitted":        model.VerdictError,
				"podsecurity/privileged":                    model.VerdictError,
				"podsecurity/privileged-workload-blocked":   model.VerdictSkipped,
			}},
		{"missing namespace", nil, admitAll,
			map[string]model.Verdict{
				"podsecurity/namespace-enforces-restricted": model.VerdictError,
				"podsecurity/privileged":                    model.VerdictError,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := fake.NewClientset(tt.objs...)
			cs.PrependReactor("create", "pods", tt.reactor)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			start := time.Now()
			results := Run(ctx, &kube.Client{Clientset: cs}, Input{Namespaces: []string{"a"}, Image: image})
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

// The evidence of each dry-run try is a command that submits the same pod
// to the same cluster again.
func TestRunEvidence(t *testing.T) {
	cs := fake.NewClientset(namespaceEnforcing("a", "restricted"), failedCreate("a"))
	cs.PrependReactor("create", "pods", podSecurity("img"))
	c := &kube.Client{Clientset: cs, Kubeconfig: "/k", Context: "c"}
	results := Run(context.Background(), c, Input{Namespaces: []string{"a"}, Image: "img"})
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
