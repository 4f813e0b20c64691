package flux

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/tenantcheck/tenantcheck/internal/model"
)

func TestFlagValue(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		flag    string
		isBool  bool
		want    string
		wantSet bool
	}{
		{"equals", []string{"--no-cross-namespace-refs=true"}, "no-cross-namespace-refs", true, "true", true},
		{"single dash", []string{"-no-cross-namespace-refs=true"}, "no-cross-namespace-refs", true, "true", true},
		{"bare bool", []string{"--watch-all-namespaces", "--no-remote-bases"}, "no-remote-bases", true, "true", true},
		{"explicit false", []string{"--no-remote-bases=false"}, "no-remote-bases", true, "false", true},
		{"last wins", []string{"--no-remote-bases=true", "--no-remote-bases=false"}, "no-remote-bases", true, "false", true},
		{"absent", []string{"--log-level=info"}, "no-remote-bases", true, "", false},
		{"prefix is not the flag", []string{"--no-cross-namespace-refs-x=true"}, "no-cross-namespace-refs", true, "", false},
		{"string with space", []string{"--default-service-account", "default", "--log-level=info"}, "default-service-account", false, "default", true},
		{"string with equals", []string{"--default-service-account=flux"}, "default-service-account", false, "flux", true},
		{"string empty", []string{"--default-service-account="}, "default-service-account", false, "", true},
		{"string at the end without value", []string{"--default-service-account"}, "default-service-account", false, "", false},
		{"bool does not eat the next arg", []string{"--no-remote-bases", "false"}, "no-remote-bases", true, "true", true},
		{"command and positional", []string{"/manager", "x", "--no-remote-bases=true"}, "no-remote-bases", true, "true", true},
		{"after --", []string{"--", "--no-remote-bases=true"}, "no-remote-bases", true, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, set := FlagValue(tt.args, tt.flag, tt.isBool)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.wantSet, set)
		})
	}
}

func TestSatisfied(t *testing.T) {
	cross, bases, sa := ControllerChecks[0], ControllerChecks[1], ControllerChecks[2]
	tests := []struct {
		name  string
		check ControllerCheck
		args  []string
		want  bool
		reads string
	}{
		{"true", cross, []string{"--no-cross-namespace-refs=true"}, true, "--no-cross-namespace-refs=true"},
		{"bare", bases, []string{"--no-remote-bases"}, true, "--no-remote-bases=true"},
		{"false", cross, []string{"--no-cross-namespace-refs=false"}, false, "--no-cross-namespace-refs=false"},
		{"garbage", cross, []string{"--no-cross-namespace-refs=yes"}, false, "--no-cross-namespace-refs=yes"},
		{"unset", cross, nil, false, "--no-cross-namespace-refs not set"},
		{"sa set", sa, []string{"--default-service-account=default"}, true, "--default-service-account=default"},
		{"sa empty", sa, []string{"--default-service-account="}, false, "--default-service-account="},
		{"sa unset", sa, []string{"--no-remote-bases=true"}, false, "--default-service-account not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, reads := tt.check.Satisfied(tt.args)
			assert.Equal(t, tt.want, ok)
			assert.Equal(t, tt.reads, reads)
		})
	}
}

func deployment(ns, name string, labels, podLabels map[string]string, containers ...corev1.Container) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
			Spec:       corev1.PodSpec{Containers: containers},
		}},
	}
}

var fluxLabels = map[string]string{"app.kubernetes.io/part-of": "flux", "app.kubernetes.io/instance": "flux-system"}

func with(labels map[string]string, more ...string) map[string]string {
	out := map[string]string{}
	for k, v := range labels {
		out[k] = v
	}
	for i := 0; i+1 < len(more); i += 2 {
		out[more[i]] = more[i+1]
	}
	return out
}

var tenantsAB = []Tenant{{Name: "a", Namespaces: []string{"tenant-a"}}, {Name: "b", Namespaces: []string{"tenant-b"}}}

// The controllers are found by Flux's labels in the namespaces of the
// Deployments labelled part-of=flux; the name alone and the tenants'
// namespaces count for nothing.
func TestFindControllers(t *testing.T) {
	cs := fake.NewClientset(
		// As the local cluster deploys it (hack/localcluster/flux.go).
		deployment("flux-system", "kustomize-controller",
			with(fluxLabels, "app.kubernetes.io/component", "kustomize-controller", "control-plane", "controller"),
			map[string]string{"app": "kustomize-controller", "app.kubernetes.io/component": "kustomize-controller"},
			corev1.Container{Name: "sidecar", Args: []string{"--x"}},
			corev1.Container{Name: "manager", Args: []string{"--no-remote-bases=true"}}),
		deployment("gitops", "kc", with(fluxLabels, "app.kubernetes.io/component", "helm-controller"), nil,
			corev1.Container{Name: "c", Command: []string{"/helm-controller"}, Args: []string{"--default-service-account=default"}}),
		// In a Flux namespace, found by its pod label without part-of.
		deployment("gitops", "renamed", nil, map[string]string{"app": "notification-controller"}, corev1.Container{Name: "manager"}),
		deployment("gitops", "web", map[string]string{"app": "web"}, nil, corev1.Container{Name: "web"}),
		// A tenant's look-alikes, however they are named and labelled.
		deployment("tenant-a", "kustomize-controller", map[string]string{"app": "kustomize-controller"},
			map[string]string{"app": "kustomize-controller"}, corev1.Container{Name: "manager", Args: []string{"--no-cross-namespace-refs=true"}}),
		deployment("tenant-b", "helm-controller", with(fluxLabels, "app.kubernetes.io/component", "helm-controller"), nil,
			corev1.Container{Name: "manager"}),
		// Outside Flux's namespaces: a name is not a label.
		deployment("default", "image-reflector-controller", nil, nil, corev1.Container{Name: "manager"}),
	)
	found, err := findControllers(context.Background(), env{cs: cs}, tenantsAB)
	require.NoError(t, err)
	assert.Equal(t, []string{"flux-system", "gitops"}, found.namespaces, "tenant-b's part-of label does not make it Flux's")
	assert.True(t, found.byLabel)
	require.Len(t, found.controllers, 3)
	assert.Equal(t, controller{name: kustomizeController, namespace: "flux-system", deploy: "kustomize-controller",
		container: "manager", args: []string{"--no-remote-bases=true"}}, found.controllers[0])
	assert.Equal(t, helmController, found.controllers[1].name)
	assert.Equal(t, []string{"/helm-controller", "--default-service-account=default"}, found.controllers[1].args, "command and args are both read")
	assert.Equal(t, notificationController, found.controllers[2].name, "found by the pod label app")
	for _, c := range found.controllers {
		assert.NotContains(t, []string{"tenant-a", "tenant-b", "default"}, c.namespace)
	}
}

// Without any part-of label only flux-system is searched, by name; a
// tenant's kustomize-controller is never judged as Flux's.
func TestFindControllersFallsBackToFluxSystem(t *testing.T) {
	tenantKC := deployment("tenant-a", "kustomize-controller", map[string]string{"app.kubernetes.io/component": "kustomize-controller"},
		map[string]string{"app": "kustomize-controller"}, corev1.Container{Name: "manager", Args: []string{"--no-cross-namespace-refs=true"}})
	realKC := deployment("flux-system", "kustomize-controller", nil, map[string]string{"app": "kustomize-controller"},
		corev1.Container{Name: "manager", Args: []string{"--no-cross-namespace-refs=false"}})

	found, err := findControllers(context.Background(), env{cs: fake.NewClientset(tenantKC, realKC)}, tenantsAB)
	require.NoError(t, err)
	assert.Equal(t, []string{"flux-system"}, found.namespaces)
	assert.False(t, found.byLabel)
	require.Len(t, found.controllers, 1)
	assert.Equal(t, "flux-system", found.controllers[0].namespace)
	r := ControllerChecks[0].judge(found, "kubectl")
	assert.Equal(t, model.VerdictBroken, r.Verdict, "the real controller's flags are judged: %s", r.Reason)
	assert.Equal(t, "flux-system/kustomize-controller: --no-cross-namespace-refs=false", r.Reason)

	found, err = findControllers(context.Background(), env{cs: fake.NewClientset(tenantKC)}, tenantsAB)
	require.NoError(t, err)
	assert.Empty(t, found.controllers, "a tenant's kustomize-controller is not Flux's")
	r = ControllerChecks[0].judge(found, "kubectl")
	assert.Equal(t, model.VerdictError, r.Verdict, r.Reason)
	assert.Contains(t, r.Reason, "no kustomize-controller Deployment found (no Deployment outside the tenants is labelled app.kubernetes.io/part-of=flux; searched flux-system")

	found, err = findControllers(context.Background(), env{cs: fake.NewClientset(realKC)},
		[]Tenant{{Name: "odd", Namespaces: []string{"flux-system"}}})
	require.NoError(t, err)
	assert.Empty(t, found.namespaces, "flux-system is a tenant's here, so it is not searched")
	assert.Contains(t, ControllerChecks[0].judge(found, "kubectl").Reason, "nothing searched")
}

func TestFindControllersListError(t *testing.T) {
	cs := fake.NewClientset()
	cs.PrependReactor("list", "deployments", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("connection refused")
	})
	rs := controllerResults(context.Background(), env{cs: cs}, tenantsAB)
	require.Len(t, rs, len(ControllerChecks))
	for _, r := range rs {
		assert.Equal(t, model.VerdictError, r.Verdict)
		assert.Contains(t, r.Reason, "connection refused")
	}
}

func TestControllerJudge(t *testing.T) {
	kc := func(args ...string) controller {
		return controller{name: kustomizeController, namespace: "flux-system", deploy: "kustomize-controller", container: "manager", args: args}
	}
	hc := func(args ...string) controller {
		return controller{name: helmController, namespace: "flux-system", deploy: "helm-controller", container: "manager", args: args}
	}
	cross := ControllerChecks[0]
	tests := []struct {
		name   string
		check  ControllerCheck
		found  []controller
		want   model.Verdict
		reason string
	}{
		{"locked down", cross, []controller{kc("--no-cross-namespace-refs=true"), hc("--no-cross-namespace-refs")}, model.VerdictHeld, "set on flux-system/kustomize-controller, flux-system/helm-controller"},
		{"helm-controller open", cross, []controller{kc("--no-cross-namespace-refs=true"), hc()}, model.VerdictBroken, "flux-system/helm-controller: --no-cross-namespace-refs not set"},
		{"no kustomize-controller", cross, []controller{hc("--no-cross-namespace-refs=true")}, model.VerdictError, "no kustomize-controller Deployment found"},
		{"nothing found", cross, nil, model.VerdictError, "no kustomize-controller Deployment found (searched flux-system, where the Deployments labelled app.kubernetes.io/part-of=flux run"},
		{"not a controller of the flag", ControllerChecks[1], []controller{kc("--no-remote-bases=true"), hc()}, model.VerdictHeld, "set on flux-system/kustomize-controller"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.check.judge(installation{namespaces: []string{"flux-system"}, byLabel: true, controllers: tt.found}, "kubectl")
			assert.Equal(t, tt.want, r.Verdict, r.Reason)
			assert.Contains(t, r.Reason, tt.reason)
			assert.NoError(t, r.Validate())
			for _, ev := range r.Evidence {
				assert.Contains(t, ev.Repro, "kubectl get deploy -n flux-system")
			}
		})
	}
}
