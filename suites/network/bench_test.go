package network

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/tenantcheck/tenantcheck/internal/kube"
	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/internal/runner"
	"github.com/tenantcheck/tenantcheck/suites/suitekit"
)

// BenchmarkNetworkLayer times a full network-layer run, split into its
// phases, next to its floor: one pod start (the deploy phase) plus one probe
// timeout. Targets: the whole run within 30 s on the local cluster, 15 s aimed.
func BenchmarkNetworkLayer(b *testing.B) {
	c, err := kube.Load(kube.Options{Kubeconfig: os.Getenv("KUBECONFIG")})
	if err != nil {
		b.Fatalf("no cluster for the benchmark: %v", err)
	}
	opts := suitekit.Options(b)
	opts.Progress = nil
	phases := map[string]time.Duration{}
	var total time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		rep, err := runner.Execute(context.Background(), c, opts)
		if err != nil {
			b.Fatalf("run: %v", err)
		}
		total += time.Since(start)
		for _, p := range rep.Timings {
			phases[p.Phase] += time.Duration(p.Duration)
		}
	}
	per := func(d time.Duration) float64 { return d.Seconds() / float64(b.N) }
	b.Logf("denied connections: %s", denyMode())
	for _, p := range []string{"provision", "deploy", "probe", "cleanup"} {
		b.ReportMetric(per(phases[p]), p+"-s/op")
	}
	floor := per(phases["deploy"]) + opts.Probe.WithDefaults().ProbeTimeout.Seconds()
	b.ReportMetric(floor, "floor-s/op")
	b.ReportMetric(per(total), "run-s/op")
}

// BenchmarkBaselineTally runs the guide's baseline b.N times (make bench
// uses 20) and counts the network checks that were not Held: on a healthy
// cluster both must stay 0, in either DENY mode, or tenantcheck cries wolf.
func BenchmarkBaselineTally(b *testing.B) {
	c, err := kube.Load(kube.Options{Kubeconfig: os.Getenv("KUBECONFIG")})
	if err != nil {
		b.Fatalf("no cluster for the benchmark: %v", err)
	}
	opts := suitekit.Options(b)
	opts.Progress = nil
	var broken, errored, runs int
	var total time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		rep, err := runner.Execute(context.Background(), c, opts)
		if err != nil {
			b.Fatalf("run: %v", err)
		}
		total += time.Since(start)
		runs++
		for _, r := range rep.Results {
			switch r.Verdict {
			case model.VerdictBroken:
				broken++
				b.Logf("run %d: %s Broken: %s", i+1, r.CheckID, r.Reason)
			case model.VerdictError:
				errored++
				b.Logf("run %d: %s Error: %s", i+1, r.CheckID, r.Reason)
			}
		}
	}
	b.ReportMetric(float64(broken), "broken")
	b.ReportMetric(float64(errored), "error")
	b.ReportMetric(total.Seconds()/float64(runs), "run-s/op")
	fmt.Printf("tally (%s): %d run(s), %d Broken, %d Error, %.1f s a run\n", denyMode(), runs, broken, errored, total.Seconds()/float64(runs))
}

func denyMode() string {
	if d := suitekit.Deny(); d != "" {
		return d
	}
	return "reject"
}
