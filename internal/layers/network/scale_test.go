package network

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/internal/report"
)

// BenchmarkPlanJudgeRender is issue 16's planner simulation: N tenants
// (TENANTCHECK_SIM_TENANTS, default 1000) under the default pair plan (ring
// above ten), a fake prober that answers every path as an enforcing
// cluster would, then judge, matrices and the JSON and table renderings.
// It reports seconds and the heap in use at the end (target: 2 s, 200 MB).
func BenchmarkPlanJudgeRender(b *testing.B) {
	n := 1000
	if s := os.Getenv("TENANTCHECK_SIM_TENANTS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 2 {
			b.Fatalf("TENANTCHECK_SIM_TENANTS=%q: want a count of at least 2", s)
		}
	}
	var peak uint64
	var paths int
	for i := 0; i < b.N; i++ {
		top := simTopology(n)
		start := time.Now()
		ps, _ := plan(top)
		paths = len(ps)
		obs := baselineObs(b, top)
		results := judge(Checks, top, obs, func(Path) string { return "" }, "")
		rep := model.NewReport(model.Metadata{Mode: model.ModeProvision}, results, matrices(Checks, top, obs))
		for _, f := range report.Formats() {
			if err := report.Render(io.Discard, rep, f); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(time.Since(start).Seconds(), "s/run")
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
		for _, r := range results {
			if r.Verdict != model.VerdictHeld && r.Verdict != model.VerdictSkipped {
				b.Fatalf("%s: %s: %s", r.CheckID, r.Verdict, r.Reason)
			}
		}
	}
	b.ReportMetric(float64(paths), "paths")
	b.ReportMetric(float64(peak)/(1<<20), "heap-MB")
}

// simTopology: n tenants, a shared namespace allowed into all, an outsider
// and a canary, with fake addresses, under the default pair plan.
func simTopology(n int) *Topology {
	top := testTopology()
	var peers []Peer
	var names []string
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("t%04d", i)
		names = append(names, name)
		peers = append(peers, peerAt(name, RoleTenant, name, 10+i))
	}
	for _, p := range top.Peers {
		if p.Role != RoleTenant {
			if p.Role == RoleShared {
				p.AllowedTo = names
			}
			peers = append(peers, p)
		}
	}
	top.Peers = peers
	auto, _ := ParsePairs("")
	top.Pairs = auto.Cover(names)
	return top
}
