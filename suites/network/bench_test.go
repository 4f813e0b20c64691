package network

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/tenantcheck/tenantcheck/internal/kube"
	net "github.com/tenantcheck/tenantcheck/internal/layers/network"
	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/internal/procstat"
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
		rep, took := timedRun(b, c, opts)
		total += took
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
		rep, took := timedRun(b, c, opts)
		total += took
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

// BenchmarkTenants runs all five layers against N provisioned tenants for
// each N of TENANTCHECK_BENCH_TENANTS (make bench-tenants TENANTS=2,5,20),
// and prints a scaling table: seconds per phase, probed paths, verdicts,
// and the runner's peak RSS. The README's table is this output.
func BenchmarkTenants(b *testing.B) {
	c, err := kube.Load(kube.Options{Kubeconfig: os.Getenv("KUBECONFIG")})
	if err != nil {
		b.Fatalf("no cluster for the benchmark: %v", err)
	}
	counts, err := parseCounts(os.Getenv("TENANTCHECK_BENCH_TENANTS"))
	if err != nil {
		b.Fatal(err)
	}
	type row struct {
		n                      int
		phases                 map[string]float64
		order                  []string
		run                    float64
		paths                  int
		held, broken, errs, sk int
		rssMB                  float64
	}
	var rows []row
	for _, n := range counts {
		b.Run(fmt.Sprintf("tenants=%d", n), func(b *testing.B) {
			opts := suitekit.Options(b)
			opts.Progress = nil
			opts.Spec = suitekit.TenantsSpec(n)
			opts.Probe.Pairs = os.Getenv("TENANTCHECK_BENCH_PAIRS")
			opts.Layers = []model.Layer{model.LayerNamespace, model.LayerNetwork, model.LayerPodSecurity, model.LayerQuota, model.LayerRBAC, model.LayerFlux}
			r := row{n: n, phases: map[string]float64{}}
			var total time.Duration
			for i := 0; i < b.N; i++ {
				rep, took := timedRun(b, c, opts)
				total += took
				for _, p := range rep.Timings {
					if _, ok := r.phases[p.Phase]; !ok {
						r.order = append(r.order, p.Phase)
					}
					r.phases[p.Phase] += time.Duration(p.Duration).Seconds() / float64(b.N)
				}
				for _, m := range rep.Matrices {
					for _, cell := range m.Cells {
						if cell.Observed != "" {
							r.paths++
						}
					}
				}
				for _, res := range rep.Results {
					switch res.Verdict {
					case model.VerdictHeld:
						r.held++
					case model.VerdictBroken:
						r.broken++
						b.Logf("%d tenants: %s Broken: %s", n, res.CheckID, res.Reason)
					case model.VerdictError:
						r.errs++
						b.Logf("%d tenants: %s Error: %s", n, res.CheckID, res.Reason)
					default:
						r.sk++
					}
				}
			}
			r.run = total.Seconds() / float64(b.N)
			r.paths /= b.N
			r.rssMB = procstat.PeakRSSMB()
			for _, p := range r.order {
				b.ReportMetric(r.phases[p], p+"-s/op")
			}
			b.ReportMetric(r.run, "run-s/op")
			b.ReportMetric(float64(r.errs), "error")
			b.ReportMetric(float64(r.broken), "broken")
			b.ReportMetric(r.rssMB, "peak-rss-MB")
			rows = append(rows, r)
		})
	}
	if len(rows) == 0 {
		return
	}
	// The table: the phases of the largest run, in run order.
	order := rows[len(rows)-1].order
	// The floor, as issue 16 defines it: what the cluster takes whatever
	// the runner does, its pods' start, one connect timeout and the
	// deletion of the run's namespaces.
	timeout := suitekit.Options(b).Probe.WithDefaults().ProbeTimeout.Seconds()
	head := "| tenants | run (s) | floor: deploy + one timeout + cleanup (s) |"
	sep := "|---:|---:|---:|"
	for _, p := range order {
		head += " " + p + " (s) |"
		sep += "---:|"
	}
	head += " probed matrix cells | held / broken / error / skipped | runner peak RSS (MB) |"
	sep += "---:|---|---:|"
	out := head + "\n" + sep + "\n"
	for _, r := range rows {
		line := fmt.Sprintf("| %d | %.1f | %.1f |", r.n, r.run, r.phases["deploy"]+timeout+r.phases["cleanup"])
		for _, p := range order {
			line += fmt.Sprintf(" %.1f |", r.phases[p])
		}
		line += fmt.Sprintf(" %d | %d / %d / %d / %d | %.0f |", r.paths, r.held, r.broken, r.errs, r.sk, r.rssMB)
		out += line + "\n"
	}
	fmt.Printf("\nscaling (denied connections %s, %s):\n%s", denyMode(), time.Now().UTC().Format("2006-01-02"), out)
}

// timedRun is one run of the benchmark, and how long it took.
func timedRun(b *testing.B, c *kube.Client, opts runner.Options) (*model.Report, time.Duration) {
	b.Helper()
	start := time.Now()
	rep, err := runner.Execute(context.Background(), c, opts)
	if err != nil {
		b.Fatalf("run: %v", err)
	}
	return rep, time.Since(start)
}

func parseCounts(s string) ([]int, error) {
	if s == "" {
		s = "2,5,20"
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 2 {
			return nil, fmt.Errorf("TENANTCHECK_BENCH_TENANTS=%q: want counts of at least 2, comma-separated", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// BenchmarkWatchRounds: the rounds per second a watch achieves (issue 15,
// target at least 5 over 20 paths) over the cross-tenant pod-IP paths of
// four tenants and their controls (24 must-block paths, 8 controls: 32
// paths from 4 pods), a 10-second watch asking a round every 100 ms, in the
// DENY mode the cluster runs (under drop, every must-block probe lasts its
// timeout, 100 ms).
func BenchmarkWatchRounds(b *testing.B) {
	c, err := kube.Load(kube.Options{Kubeconfig: os.Getenv("KUBECONFIG")})
	if err != nil {
		b.Fatalf("no cluster for the benchmark: %v", err)
	}
	opts := suitekit.Options(b)
	opts.Progress = nil
	opts.Spec = suitekit.TenantsSpec(4)
	opts.Layers = []model.Layer{model.LayerNamespace}
	var rate float64
	var paths int
	for i := 0; i < b.N; i++ {
		opts.AfterProvision = func(ctx context.Context, _ kubernetes.Interface, run *runner.Run) error {
			out, err := net.Watch(ctx, c, net.Input{Peers: net.TenantPeers(run.Roster), Probe: opts.Probe, Labels: run.Labels, Nonce: run.ID},
				net.WatchSettings{Interval: 100 * time.Millisecond, Duration: 10 * time.Second})
			if err != nil {
				return err
			}
			if len(out.Errors) > 0 || len(out.Timeline.FailOpen) > 0 {
				return fmt.Errorf("watch: errors %v, fail-open %v", out.Errors, out.Timeline.FailOpen)
			}
			rate += out.Timeline.RoundsPerSecond
			paths = len(out.Series)
			return nil
		}
		timedRun(b, c, opts)
	}
	b.Logf("denied connections: %s; %d paths", denyMode(), paths)
	b.ReportMetric(rate/float64(b.N), "rounds/s")
	b.ReportMetric(float64(paths), "paths")
}
