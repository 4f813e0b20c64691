package audit

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/suites/suitekit"
)

// Issue 13: probe pods carry no label a tenant's selector takes by accident
// and no owner a controller could adopt. tenant-a's Service and ReplicaSet
// select on app.kubernetes.io/part-of=tenant-a alone (fixture
// part-of-service): during the audit the Service never lists a probe pod,
// the ReplicaSet adopts nothing, and the shared ingress's paths to tenant-a's
// probe server are an Error naming the Service, while every other path is
// judged.
func TestProbesJoinNoTenantSelector(t *testing.T) {
	f := features.New("probe pods and a tenant's selectors").
		WithLabel("mode", "audit").WithLabel("check", "probe-labels").
		Assess("no tenant Service or controller takes a probe pod", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			cs := suitekit.Client(ctx, t).Clientset
			s := realTenants(ctx, t, cs)
			const a = "audit-tenant-a"
			require.NoError(t, suitekit.ApplyFixtureTo(ctx, t, "part-of-service", a, "audit-tenant-b"))

			var mu sync.Mutex
			var joined []string
			adopted, polls := 0, 0
			watch, stop := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() {
				defer close(done)
				for watch.Err() == nil {
					slices, err := cs.DiscoveryV1().EndpointSlices(a).List(watch, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=tenant-a-all"})
					rs, rerr := cs.AppsV1().ReplicaSets(a).Get(watch, "nightly-batch", metav1.GetOptions{})
					mu.Lock()
					if err == nil && rerr == nil {
						polls++
						for _, sl := range slices.Items {
							for _, ep := range sl.Endpoints {
								if ep.TargetRef != nil && strings.HasPrefix(ep.TargetRef.Name, "tc-") {
									joined = append(joined, ep.TargetRef.Name)
								}
							}
						}
						if rs.Status.Replicas > 0 {
							adopted++
						}
					}
					mu.Unlock()
					time.Sleep(300 * time.Millisecond)
				}
			}()

			opts := suitekit.Options(t)
			opts.Spec, opts.Mode = s, model.ModeAudit
			opts.Layers = []model.Layer{model.LayerNetwork}
			got := map[string]model.Result{}
			for _, r := range suitekit.Execute(ctx, t, opts).Results {
				got[r.CheckID] = r
			}
			stop()
			<-done

			mu.Lock()
			defer mu.Unlock()
			require.Greater(t, polls, 3, "the watch saw the run")
			assert.Empty(t, joined, "tenant-a's Service never listed a probe pod")
			assert.Zero(t, adopted, "tenant-a's ReplicaSet never counted a probe pod as its own")
			ingress := got["network/shared-ingress-allowed"]
			assert.Equal(t, model.VerdictError, ingress.Verdict, ingress.Reason)
			assert.Contains(t, ingress.Reason, "Service tenant-a-all selects on it")
			for _, id := range []string{"network/cross-tenant-tcp", "network/cross-tenant-udp", "network/other-namespace-ingress-denied", "network/same-namespace"} {
				assert.Equal(t, model.VerdictHeld, got[id].Verdict, "%s: %s", id, got[id].Reason)
			}
			assert.Empty(t, suitekit.LeftNamespaces(ctx, t))
			return ctx
		}).Feature()
	testenv.Test(t, f)
}
