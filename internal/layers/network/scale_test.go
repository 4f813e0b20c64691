package network

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/internal/procstat"
	"github.com/tenantcheck/tenantcheck/internal/report"
)

// BenchmarkPlanJudgeRender is issue 16's planner simulation: N tenants
// (TENANTCHECK_SIM_TENANTS, default 1000) under the default pair plan (ring
// above ten), a fake prober that answers every path as an enforcing
// cluster would, then judge, matrices and the JSON and table renderings.
// It reports seconds per step (plan; judge and matrices; all renderings),
// their sum (s/run, the fake prober not counted) and the test process's
// peak resident set, an upper bound of what the steps need (target: 2 s,
// 200 MB).
func BenchmarkPlanJudgeRender(b *testing.B) {
	n := 1000
	if s := os.Getenv("TENANTCHECK_SIM_TENANTS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 2 {
			b.Fatalf("TENANTCHECK_SIM_TENANTS=%q: want a count of at least 2", s)
		}
	}
	var paths int
	var planS, judgeS, renderS float64
	for i := 0; i < b.N; i++ {
		top := simTopology(n)
		start := time.Now()
		ps, want := plan(top)
		planS += time.Since(start).Seconds()
		paths = len(ps)
		obs := fakeObs(ps, want) // the fake prober: not timed
		start = time.Now()
		results := judge(Checks, top, obs, func(Path) string { return "" }, "")
		rep := model.NewReport(model.Metadata{Mode: model.ModeProvision}, results, matrices(Checks, top, obs))
		judgeS += time.Since(start).Seconds()
		start = time.Now()
		for _, f := range report.Formats() {
			if err := report.Render(io.Discard, rep, f); err != nil {
				b.Fatal(err)
			}
		}
		renderS += time.Since(start).Seconds()
		for _, r := range results {
			if r.Verdict != model.VerdictHeld && r.Verdict != model.VerdictSkipped {
				b.Fatalf("%s: %s: %s", r.CheckID, r.Verdict, r.Reason)
			}
		}
	}
	per := float64(b.N)
	b.ReportMetric(planS/per, "plan-s/op")
	b.ReportMetric(judgeS/per, "judge-s/op")
	b.ReportMetric(renderS/per, "render-s/op")
	b.ReportMetric((planS+judgeS+renderS)/per, "s/run")
	b.ReportMetric(float64(paths), "paths")
	b.ReportMetric(procstat.PeakRSSMB(), "peak-rss-MB")
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
