package quota

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/tenantcheck/tenantcheck/internal/kube"
	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/internal/runner"
	"github.com/tenantcheck/tenantcheck/suites/suitekit"
)

// BenchmarkAPILayers times the three API-side layers (Pod Security, quota,
// RBAC) for the two baseline tenants. Target: the three together within 5 s;
// provision and cleanup are reported apart.
func BenchmarkAPILayers(b *testing.B) {
	c, err := kube.Load(kube.Options{Kubeconfig: os.Getenv("KUBECONFIG")})
	if err != nil {
		b.Fatalf("no cluster for the benchmark: %v", err)
	}
	opts := suitekit.Options(b)
	opts.Progress = nil
	opts.Layers = []model.Layer{model.LayerPodSecurity, model.LayerQuota, model.LayerRBAC}
	phases := map[string]time.Duration{}
	for i := 0; i < b.N; i++ {
		rep, err := runner.Execute(context.Background(), c, opts)
		if err != nil {
			b.Fatalf("run: %v", err)
		}
		for _, p := range rep.Timings {
			phases[p.Phase] += time.Duration(p.Duration)
		}
	}
	per := func(d time.Duration) float64 { return d.Seconds() / float64(b.N) }
	var layers time.Duration
	for _, p := range []string{"podsecurity", "quota", "rbac"} {
		b.ReportMetric(per(phases[p]), p+"-s/op")
		layers += phases[p]
	}
	b.ReportMetric(per(layers), "api-layers-s/op")
	b.ReportMetric(per(phases["provision"]), "provision-s/op")
	b.ReportMetric(per(phases["cleanup"]), "cleanup-s/op")
}
