package quota

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/tenantcheck/tenantcheck/internal/model"
)

func exceeded(a k8stesting.Action) (bool, runtime.Object, error) {
	return true, nil, forbidden("pods", "exceeded quota: q, requested: requests.cpu=2, used: requests.cpu=3, limited: requests.cpu=4")
}

func admit(a k8stesting.Action) (bool, runtime.Object, error) {
	return true, a.(k8stesting.CreateAction).GetObject(), nil
}

func TestOverQuota(t *testing.T) {
	q := quotaOf("q", rl("requests.cpu", "4"), rl("requests.cpu", "3"))
	in := Input{Image: "img", Kubectl: func(s string) string { return "kubectl " + s }}
	t.Run("refused by the quota for cpu", func(t *testing.T) {
		cs := fake.NewClientset(&q)
		cs.PrependReactor("create", "pods", exceeded)
		a := overQuota(context.Background(), cs, in, "", []corev1.ResourceQuota{q}, nil, corev1.ResourceCPU)
		assert.Equal(t, model.APIRejected, a.got)
		assert.Contains(t, a.ev.Action, "cpu 1001m in 1 container(s)")
	})
	t.Run("admitted over the room: Broken", func(t *testing.T) {
		cs := fake.NewClientset(&q)
		cs.PrependReactor("create", "pods", admit)
		a := overQuota(context.Background(), cs, in, "", []corev1.ResourceQuota{q}, nil, corev1.ResourceCPU)
		assert.Equal(t, model.APIAdmitted, a.got)
		assert.Contains(t, a.note, "admitted over q requests.cpu")
	})
	t.Run("admitted because room was freed meanwhile: asked again", func(t *testing.T) {
		freed := quotaOf("q", rl("requests.cpu", "4"), rl("requests.cpu", "0"))
		cs := fake.NewClientset(&freed) // what the quota says after the try
		first := true
		cs.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
			if first {
				first = false
				return admit(a)
			}
			return exceeded(a)
		})
		a := overQuota(context.Background(), cs, in, "", []corev1.ResourceQuota{q}, nil, corev1.ResourceCPU)
		assert.Equal(t, model.APIRejected, a.got)
		assert.Equal(t, 2, a.ev.Attempts)
		assert.Contains(t, a.ev.Action, "cpu 4001m", "the second try asks for the new room")
	})
	t.Run("refused by LimitRanger: Error, never Held", func(t *testing.T) {
		cs := fake.NewClientset(&q)
		cs.PrependReactor("create", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, forbidden("pods", "maximum cpu usage per Container is 500m, but limit is 1001m")
		})
		a := overQuota(context.Background(), cs, in, "", []corev1.ResourceQuota{q}, nil, corev1.ResourceCPU)
		assert.Equal(t, model.APIError, a.got)
		assert.Contains(t, a.note, "not for exceeding cpu")
	})
	t.Run("no quota caps cpu: Broken without a try", func(t *testing.T) {
		cs := fake.NewClientset()
		a := overQuota(context.Background(), cs, in, "", nil, nil, corev1.ResourceCPU)
		assert.Equal(t, model.APIAdmitted, a.got)
		assert.Contains(t, a.note, "no ResourceQuota caps cpu")
		assert.Empty(t, cs.Actions())
	})
}

func TestTryDefaultsAtQuota(t *testing.T) {
	cs := fake.NewClientset()
	cs.PrependReactor("create", "pods", exceeded)
	a := tryDefaults(context.Background(), cs, Input{Image: "img", Kubectl: func(s string) string { return "kubectl " + s }}, "a", nil)
	assert.Equal(t, model.APIError, a.got, "a full tenant cannot tell")
	assert.Contains(t, a.note, "tenant at quota")
}
