package kube

import (
	"testing"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Every repro command in a report starts with Kubectl(): if it dropped the
// kubeconfig or context, a reader pasting it would hit their current
// cluster instead of the one that was checked.
func TestKubectl(t *testing.T) {
	tests := []struct {
		name   string
		client *Client
		want   string
	}{
		{"nil client", nil, "kubectl"},
		{"nothing known", &Client{}, "kubectl"},
		{"kubeconfig and context", &Client{Kubeconfig: "/a", Context: "c"}, "kubectl --kubeconfig /a --context c"},
		{"kubeconfig only", &Client{Kubeconfig: "/a"}, "kubectl --kubeconfig /a"},
		{"context only", &Client{Context: "c"}, "kubectl --context c"},
		// --kubeconfig takes one file, so a KUBECONFIG list must stay a list.
		{"several kubeconfig files", &Client{Kubeconfig: "/a:/b", Context: "c"}, "KUBECONFIG=/a:/b kubectl --context c"},
		// "in-cluster" is our name for the pod's service account, not a
		// context kubectl would know.
		{"in-cluster", &Client{Context: "in-cluster"}, "kubectl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.client.Kubectl())
		})
	}
}

func TestKubectlSeveralFilesIsEnvPrefix(t *testing.T) {
	got := (&Client{Kubeconfig: "/a:/b"}).Kubectl()
	assert.Regexp(t, `^KUBECONFIG=/a:/b kubectl\b`, got)
	assert.NotContains(t, got, "--kubeconfig")
}

func TestRepro(t *testing.T) {
	c := &Client{Kubeconfig: "/a", Context: "c"}
	pod := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}}
	tests := []struct {
		name     string
		got      string
		contains []string
	}{
		{"dry run", c.ReproDryRun(pod), []string{"create --dry-run=server -f -", "--kubeconfig /a --context c", `"name":"p"`}},
		{"kubectl", c.ReproKubectl("get pods -n ns"), []string{"kubectl --kubeconfig /a --context c get pods -n ns"}},
		{"exec", c.ReproExec("ns", "p", "probe", []string{"probe", "connect"}),
			[]string{"kubectl --kubeconfig /a --context c exec -n ns p -c probe -- probe connect"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, s := range tt.contains {
				assert.Contains(t, tt.got, s)
			}
		})
	}
}
