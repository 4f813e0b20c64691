package report

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantcheck/tenantcheck/internal/model"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or rewrites the file with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./internal/report/ -update to create it")
	assert.Equal(t, string(want), got, "rendered output differs from %s; rerun with -update if intended", path)
}

func render(t *testing.T, r *model.Report, f Format) string {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, Render(&buf, r, f))
	return buf.String()
}

func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		format Format
		file   string
	}{
		{Table, "report.table.golden"},
		{Markdown, "report.markdown.golden"},
		{JUnit, "report.junit.golden"},
	} {
		t.Run(string(tc.format), func(t *testing.T) {
			golden(t, tc.file, render(t, fixtureReport(t), tc.format))
		})
	}
}

func TestParseFormat(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Format
		wantErr bool
	}{
		{"", Table, false},
		{"table", Table, false},
		{"JSON", JSON, false},
		{" junit ", JUnit, false},
		{"markdown", Markdown, false},
		{"yaml", "", true},
		{"md", "", true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseFormat(tc.in)
			if tc.wantErr {
				require.Error(t, err)
				assert.Contains(t, err.Error(), "table, json, junit, markdown")
				assert.Contains(t, err.Error(), tc.in)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestFormatsAreRenderable(t *testing.T) {
	assert.Equal(t, []Format{Table, JSON, JUnit, Markdown}, Formats())
	for _, f := range Formats() {
		got, err := ParseFormat(string(f))
		require.NoError(t, err)
		assert.Equal(t, f, got)
		assert.NotEmpty(t, render(t, fixtureReport(t), f))
	}
}

func TestRenderDefaultsToTable(t *testing.T) {
	rep := fixtureReport(t)
	assert.Equal(t, render(t, rep, Table), render(t, rep, ""))
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestRenderErrors(t *testing.T) {
	var buf bytes.Buffer
	err := Render(&buf, nil, Table)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no report")

	err = Render(&buf, fixtureReport(t), Format("yaml"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "table, json, junit, markdown")
	assert.Empty(t, buf.String(), "nothing is written on error")

	err = Render(failingWriter{}, fixtureReport(t), JSON)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "disk full")
}

func TestJSONRoundTrip(t *testing.T) {
	rep := fixtureReport(t)
	out := render(t, rep, JSON)
	assert.Contains(t, out, "\n  \"apiVersion\"", "indented")
	assert.Contains(t, out, "--timeout 1s", "repro kept verbatim")
	got, err := model.DecodeReport(strings.NewReader(out))
	require.NoError(t, err)
	assert.Equal(t, rep, got)
}

func TestTableEmptyReport(t *testing.T) {
	rep := model.NewReport(model.Metadata{}, nil, nil)
	out := render(t, rep, Table)
	assert.Contains(t, out, "No checks ran.")
	assert.Contains(t, out, "duration unknown")
	assert.True(t, strings.HasSuffix(out, "RESULT: incomplete: no checks ran\n"), out)
	assert.NotContains(t, render(t, rep, Markdown), "| Layer |")
}

func TestTableShowsEveryRepro(t *testing.T) {
	rep := fixtureReport(t)
	out := render(t, rep, Table)
	lines := map[string]bool{}
	for line := range strings.SplitSeq(out, "\n") {
		lines[strings.TrimSpace(line)] = true
	}
	for _, res := range rep.Results {
		for _, ev := range res.Evidence {
			assert.True(t, lines[ev.Repro], "repro of %s alone on its line", res.CheckID)
		}
	}
	assert.NotContains(t, out, "\x1b[", "no ANSI escapes")
}

func TestSingleNodeNote(t *testing.T) {
	r := fixtureReport(t)
	assert.Empty(t, SingleNodeNote(r), "two nodes: nothing to say")
	r.Metadata.Nodes = 1
	for _, f := range []Format{Table, Markdown} {
		var b bytes.Buffer
		require.NoError(t, Render(&b, r, f))
		assert.Contains(t, b.String(), "no path crossed nodes", f)
	}
	r.Matrices = nil
	assert.Empty(t, SingleNodeNote(r), "no network layer: nothing to say")
}

// The workload paths: per tenant pair in the table (bounded), every one in
// Markdown, with the three columns.
func TestWorkloadPathsRendered(t *testing.T) {
	r := fixtureReport(t)
	r.WorkloadPaths = []model.WorkloadPath{
		{From: "(a namespace of no tenant)/(a new pod without labels)", To: "b/{app=api}", ToTenant: "tenant-b", Port: 9090, Protocol: model.ProtocolTCP,
			Intended: model.ReachBlocked, Policy: model.ReachAllowed, PolicyWhy: "ingress allowed by b/api-from-anywhere", Dataplane: model.ReachAllowed},
		{From: "a/{app=worker}", FromTenant: "tenant-a", To: "b/{app=api}", ToTenant: "tenant-b", Port: 9090, Protocol: model.ProtocolTCP,
			Intended: model.ReachBlocked, Policy: model.ReachAllowed, PolicyWhy: "ingress allowed by b/x|y"},
	}
	table := render(t, r, Table)
	assert.Contains(t, table, "Workload paths open by policy or in the dataplane (2)\n  (no tenant) -> tenant-b\n"+
		"    (a namespace of no tenant)/(a new pod without labels) -> b/{app=api} 9090/TCP: intended Blocked, policy Allowed (ingress allowed by b/api-from-anywhere), dataplane Allowed\n"+
		"  tenant-a -> tenant-b\n    a/{app=worker} -> b/{app=api} 9090/TCP: intended Blocked, policy Allowed (ingress allowed by b/x|y), dataplane not probed live\n")
	md := render(t, r, Markdown)
	assert.Contains(t, md, "| tenant-a -> tenant-b | `a/{app=worker}` | `b/{app=api}` | 9090/TCP | Blocked | Allowed: ingress allowed by b/x\\|y | not probed live |")

	for i := 0; i < 30; i++ {
		r.WorkloadPaths = append(r.WorkloadPaths, r.WorkloadPaths[1])
	}
	assert.Contains(t, render(t, r, Table), "  and 12 more (see -o json or -o markdown)\n")
}

// A matrix of more namespaces than a terminal can show is not drawn; its
// mismatches still are, and the JSON keeps every cell.
func TestWideMatrixIsNotDrawn(t *testing.T) {
	n := MaxGridPeers + 1
	m := model.Matrix{Name: "TCP/8080 via pod IP", Protocol: model.ProtocolTCP, Port: 8080, Via: model.ViaPodIP}
	for i := range n {
		m.Peers = append(m.Peers, fmt.Sprintf("ns%02d", i))
	}
	for _, from := range m.Peers {
		for _, to := range m.Peers {
			require.NoError(t, m.SetExpected(from, to, model.ReachBlocked))
			require.NoError(t, m.SetObserved(from, to, model.ReachBlocked))
		}
	}
	require.NoError(t, m.SetObserved("ns01", "ns03", model.ReachAllowed))
	rep := model.NewReport(model.Metadata{Mode: model.ModeProvision}, nil, []model.Matrix{m})
	for _, f := range []Format{Table, Markdown} {
		var out bytes.Buffer
		require.NoError(t, Render(&out, rep, f))
		assert.Contains(t, out.String(), fmt.Sprintf("(%d namespaces: the grid is drawn up to %d", n, MaxGridPeers), f)
		assert.Contains(t, out.String(), "ns01", "the mismatch is listed (%s)", f)
		assert.NotContains(t, out.String(), "ns20", "no grid (%s)", f)
	}
}

func TestSummaryLines(t *testing.T) {
	r := fixtureReport(t)
	lines := SummaryLines(r)
	require.Len(t, lines, 2+len(model.Summarize(r.Results)))
	assert.Contains(t, lines[0], "| mode provision |")
	assert.Equal(t, ResultLine(r), lines[len(lines)-1])
	joined := strings.Join(lines, "\n")
	assert.Regexp(t, `(?m)^network\s+Broken\s+held \d+, broken 1, error 0, skipped 0: network/\S+ Broken$`, joined)
	assert.Regexp(t, `(?m)^rbac\s+Held\s+held 1, broken 0, error 0, skipped 0$`, joined)
}
