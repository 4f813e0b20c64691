package kube

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestRestrictedPod(t *testing.T) {
	small := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")}
	big := corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")}}
	tests := []struct {
		name      string
		opts      PodOptions
		container string
		pull      corev1.PullPolicy
		resources corev1.ResourceRequirements
	}{
		// The defaults fit the guide's LimitRange and quota, and a dry-run
		// pod must never make a node pull anything.
		{"defaults", PodOptions{Namespace: "ns", Name: "p", Image: "img"}, "probe", corev1.PullNever,
			corev1.ResourceRequirements{Requests: small, Limits: small}},
		{"named container and pull policy", PodOptions{Name: "p", Container: "c", PullPolicy: corev1.PullIfNotPresent}, "c", corev1.PullIfNotPresent,
			corev1.ResourceRequirements{Requests: small, Limits: small}},
		{"explicit resources", PodOptions{Name: "p", Resources: &big}, "probe", corev1.PullNever, big},
		// NoResources wins over Resources: the quota layer uses it to see
		// what the LimitRange fills in.
		{"no resources", PodOptions{Name: "p", Resources: &big, NoResources: true}, "probe", corev1.PullNever, corev1.ResourceRequirements{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := RestrictedPod(tt.opts)
			require.Len(t, p.Spec.Containers, 1)
			c := p.Spec.Containers[0]
			assert.Equal(t, tt.opts.Name, p.Name)
			assert.Equal(t, tt.opts.Namespace, p.Namespace)
			assert.Equal(t, tt.container, c.Name)
			assert.Equal(t, tt.pull, c.ImagePullPolicy)
			assert.True(t, resourcesEqual(tt.resources, c.Resources), "resources: got %v, want %v", c.Resources, tt.resources)

			// What Pod Security "restricted" asks for, whatever the options.
			require.NotNil(t, p.Spec.SecurityContext)
			assert.Equal(t, ptr(true), p.Spec.SecurityContext.RunAsNonRoot)
			assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, p.Spec.SecurityContext.SeccompProfile.Type)
			require.NotNil(t, c.SecurityContext)
			assert.Equal(t, ptr(false), c.SecurityContext.AllowPrivilegeEscalation)
			assert.Equal(t, ptr(true), c.SecurityContext.ReadOnlyRootFilesystem)
			assert.Equal(t, []corev1.Capability{"ALL"}, c.SecurityContext.Capabilities.Drop)
			assert.Equal(t, ptr(false), p.Spec.AutomountServiceAccountToken)
		})
	}
}

// The caller's Resources and Labels are copied: a layer that then edits its
// pod must not change the options it will build the next pod from.
func TestRestrictedPodCopiesInputs(t *testing.T) {
	res := SmallResources()
	labels := map[string]string{"a": "1"}
	p := RestrictedPod(PodOptions{Name: "p", Resources: &res, Labels: labels})
	p.Labels["a"] = "2"
	p.Spec.Containers[0].Resources.Limits[corev1.ResourceCPU] = resource.MustParse("9")
	assert.Equal(t, "1", labels["a"])
	cpu := res.Limits[corev1.ResourceCPU]
	assert.Equal(t, "10m", cpu.String())
	assert.Nil(t, RestrictedPod(PodOptions{Name: "p"}).Labels)
}

func resourcesEqual(a, b corev1.ResourceRequirements) bool {
	eq := func(x, y corev1.ResourceList) bool {
		if len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if w, ok := y[k]; !ok || v.Cmp(w) != 0 {
				return false
			}
		}
		return true
	}
	return eq(a.Requests, b.Requests) && eq(a.Limits, b.Limits)
}

func TestWaitPodReady(t *testing.T) {
	meta := metav1.ObjectMeta{Name: "p", Namespace: "ns"}
	ready := &corev1.Pod{ObjectMeta: meta, Status: corev1.PodStatus{
		PodIP:      "10.0.0.1",
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
	}}
	neverPull := &corev1.Pod{ObjectMeta: meta, Status: corev1.PodStatus{Phase: corev1.PodPending,
		ContainerStatuses: []corev1.ContainerStatus{{Name: "probe", State: corev1.ContainerState{
			Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImageNeverPull", Message: `image "img" is not present`}}}},
	}}
	// Ready without an IP is no use to a prober.
	noIP := &corev1.Pod{ObjectMeta: meta, Status: corev1.PodStatus{
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
	}}
	notReady := &corev1.Pod{ObjectMeta: meta, Status: corev1.PodStatus{Phase: corev1.PodRunning,
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, Message: "containers with unready status: [probe]"}},
	}}
	tests := []struct {
		name    string
		pod     *corev1.Pod // nil: no such pod
		wantErr []string    // empty: Ready
		// atOnce: the answer must come well before a generous timeout;
		// otherwise only a short timeout ends the wait.
		atOnce bool
	}{
		{"ready", ready, nil, true},
		// An image that will never come is known at once: waiting out the
		// timeout would only hide the kubelet's reason.
		{"image never pulled", neverPull, []string{"ErrImageNeverPull", "ns/p"}, true},
		{"missing pod", nil, []string{"not Ready", "ns/p", "not found"}, false},
		{"ready without IP", noIP, []string{"not Ready"}, false},
		{"not ready", notReady, []string{"not Ready", "containers with unready status"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := fake.NewClientset()
			if tt.pod != nil {
				cs = fake.NewClientset(tt.pod)
			}
			timeout := 300 * time.Millisecond
			if tt.atOnce {
				timeout = 10 * time.Second
			}
			start := time.Now()
			got, err := WaitPodReady(context.Background(), cs, "ns", "p", timeout)
			if tt.atOnce {
				assert.Less(t, time.Since(start), timeout/2, "waited for the timeout")
			}
			if len(tt.wantErr) == 0 {
				require.NoError(t, err)
				assert.Equal(t, "10.0.0.1", got.Status.PodIP)
				return
			}
			require.Error(t, err)
			assert.Nil(t, got)
			for _, s := range tt.wantErr {
				assert.Contains(t, err.Error(), s)
			}
		})
	}
}

func TestNotReadyReason(t *testing.T) {
	tests := []struct {
		name   string
		status corev1.PodStatus
		want   string
	}{
		{"ready with IP", corev1.PodStatus{PodIP: "10.0.0.1", Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}, ""},
		{"condition message", corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, Message: "not yet"}}}, "not yet"},
		{"waiting container", corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}}}, "phase Pending: ContainerCreating "},
		{"nothing known", corev1.PodStatus{}, "phase "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, NotReadyReason(&corev1.Pod{Status: tt.status}))
		})
	}
}
