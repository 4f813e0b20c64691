package audit

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/tenantcheck/tenantcheck/suites/suitekit"
)

// snapshot is every object of every namespaced kind the API server lists in
// some namespaces, Events excepted: "kind ns/name" -> uid and a digest of
// the object without its status and the metadata the server keeps
// (resourceVersion, managedFields; for Endpoints and EndpointSlices also
// the controllers' generation and trigger time, see digest). An audit must
// leave it exactly as it was.
func snapshot(ctx context.Context, t *testing.T, namespaces ...string) map[string]string {
	t.Helper()
	c := suitekit.Client(ctx, t)
	dyn, err := dynamic.NewForConfig(c.Config)
	require.NoError(t, err)
	lists, err := c.Clientset.Discovery().ServerPreferredNamespacedResources()
	require.NoError(t, err)
	out := map[string]string{}
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		require.NoError(t, err)
		for _, r := range l.APIResources {
			if strings.Contains(r.Name, "/") || r.Name == "events" || !contains(r.Verbs, "list") {
				continue
			}
			for _, ns := range namespaces {
				items, err := dyn.Resource(gv.WithResource(r.Name)).Namespace(ns).List(ctx, metav1.ListOptions{})
				require.NoError(t, err, "list %s in %s", r.Name, ns)
				for _, o := range items.Items {
					out[fmt.Sprintf("%s %s/%s", r.Name, ns, o.GetName())] = string(o.GetUID()) + " " + digest(o)
				}
			}
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func digest(o unstructured.Unstructured) string {
	obj := o.DeepCopy().Object
	delete(obj, "status")
	if md, ok := obj["metadata"].(map[string]any); ok {
		delete(md, "resourceVersion")
		delete(md, "managedFields")
		// The endpoint controllers' bookkeeping: a mimic matching a Service
		// was listed (not ready) and removed, which bumps the slice's
		// generation and the trigger-time annotation; the endpoints are
		// compared as they are.
		if strings.HasPrefix(o.GetKind(), "Endpoint") {
			delete(md, "generation")
			if a, ok := md["annotations"].(map[string]any); ok {
				delete(a, "endpoints.kubernetes.io/last-change-trigger-time")
				if len(a) == 0 {
					delete(md, "annotations")
				}
			}
		}
	}
	// An EndpointSlice's endpoints come back in any order.
	if eps, ok := obj["endpoints"].([]any); ok {
		sort.Slice(eps, func(i, j int) bool { return fmt.Sprint(eps[i]) < fmt.Sprint(eps[j]) })
	}
	b, _ := json.Marshal(obj)
	sum := sha256.Sum256(b)
	return fmt.Sprintf("%x", sum[:8])
}
