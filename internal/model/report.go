package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// The version of the report schema. Users store and diff reports, so any
// incompatible change to these types needs a new version. v1alpha2 made
// matrices sparse (cells instead of two N x N grids); DecodeReport still
// reads v1alpha1.
const (
	ReportAPIVersion = "tenantcheck.io/v1alpha2"
	ReportKind       = "Report"
	// reportV1alpha1 wrote matrices as expected/observed grids.
	reportV1alpha1 = "tenantcheck.io/v1alpha1"
)

// Mode says whether tenantcheck created its own test tenants or inspected
// tenants that already exist.
type Mode string

// The run modes.
const (
	ModeProvision Mode = "provision"
	ModeAudit     Mode = "audit"
)

// Metadata describes the run and the cluster it ran against.
type Metadata struct {
	ClusterVersion     string `json:"clusterVersion"`
	Nodes              int    `json:"nodes"`
	CNI                string `json:"cni,omitempty"`
	TenantcheckVersion string `json:"tenantcheckVersion"`
	Mode               Mode   `json:"mode"`
	// RunID is the run's tenantcheck.io/run label: what `tenantcheck
	// cleanup --run` takes and the marks on every object it created.
	RunID      string    `json:"runID,omitempty"`
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	SpecDigest string    `json:"specDigest"`
	Tenants    []string  `json:"tenants"`
	// CleanupError says what the run could not remove after it judged; the
	// verdicts stand (a Broken run still exits 1).
	CleanupError string `json:"cleanupError,omitempty"`
	// StorageNote says what was left out when the report was stored (an
	// in-cluster report too large for its ConfigMap keeps its summary).
	StorageNote string `json:"storageNote,omitempty"`
}

// PhaseTiming is the wall time of one phase of the run (plan, provision,
// deploy, observe, cleanup...), kept as a list to preserve run order.
type PhaseTiming struct {
	Phase    string `json:"phase"`
	Duration Millis `json:"durationMs"`
}

// Report is everything one run found. The runner returns it; renderers
// write it; DecodeReport reads a stored one back.
type Report struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Metadata   Metadata       `json:"metadata"`
	Layers     []LayerSummary `json:"layers"`
	Results    []Result       `json:"results"`
	Matrices   []Matrix       `json:"matrices,omitempty"`
	// WorkloadPaths are the paths to tenants' real workloads that policy or
	// the dataplane opens (audit mode).
	WorkloadPaths []WorkloadPath `json:"workloadPaths,omitempty"`
	Timings       []PhaseTiming  `json:"timings,omitempty"`
	// EnforcementLatency is how long a freshly applied NetworkPolicy took to
	// be enforced, when the run measured it.
	EnforcementLatency Millis `json:"enforcementLatencyMs,omitempty"`
	// Pairs says which ordered tenant pairs the network layer probed live
	// (--pairs), when it probed.
	Pairs *PairCoverage `json:"pairs,omitempty"`
	// TenantPairs is the tenant x tenant summary: per ordered pair and per
	// layer that tries one tenant against another, the worst verdict of
	// what it tried. A pair a layer did not try has no entry.
	TenantPairs []PairVerdict `json:"tenantPairs,omitempty"`
}

// PairVerdict is one layer's verdict for one ordered tenant pair: the
// worst over Tried paths or requests from tenant From to tenant To.
type PairVerdict struct {
	From    string  `json:"from"`
	To      string  `json:"to"`
	Layer   Layer   `json:"layer"`
	Verdict Verdict `json:"verdict"`
	Tried   int     `json:"tried"`
}

// PairTally folds per-path or per-request verdicts into PairVerdicts.
type PairTally struct {
	layer Layer
	by    map[[2]string]*PairVerdict
	order [][2]string
}

// NewPairTally starts a tally for one layer.
func NewPairTally(l Layer) *PairTally {
	return &PairTally{layer: l, by: map[[2]string]*PairVerdict{}}
}

// Add counts one path or request from tenant from to tenant to (ignored
// when they are the same tenant or either is empty).
func (t *PairTally) Add(from, to string, v Verdict) {
	if from == "" || to == "" || from == to {
		return
	}
	k := [2]string{from, to}
	p := t.by[k]
	if p == nil {
		p = &PairVerdict{From: from, To: to, Layer: t.layer, Verdict: VerdictHeld}
		t.by[k] = p
		t.order = append(t.order, k)
	}
	p.Tried++
	if Worse(v, p.Verdict) {
		p.Verdict = v
	}
}

// Verdicts are the tallied pairs, sorted by from, then to.
func (t *PairTally) Verdicts() []PairVerdict {
	out := make([]PairVerdict, 0, len(t.order))
	for _, k := range t.order {
		out = append(out, *t.by[k])
	}
	slices.SortFunc(out, func(a, b PairVerdict) int {
		if c := strings.Compare(a.From, b.From); c != 0 {
			return c
		}
		return strings.Compare(a.To, b.To)
	})
	return out
}

// Worse orders verdicts: Broken, then Error, then Held, then Skipped (a
// Skipped path does not change a pair's verdict).
func Worse(a, b Verdict) bool {
	rank := map[Verdict]int{VerdictSkipped: 0, VerdictHeld: 1, VerdictError: 2, VerdictBroken: 3}
	return rank[a] > rank[b]
}

// PairCoverage: Plan repeats the run's choice as a --pairs value; Probed of
// Total ordered tenant pairs were probed live.
type PairCoverage struct {
	Plan   string `json:"plan"`
	Probed int    `json:"probed"`
	Total  int    `json:"total"`
}

// NewReport builds a report of the current schema version whose layer
// summaries are computed from results.
func NewReport(meta Metadata, results []Result, matrices []Matrix) *Report {
	for i := range matrices {
		matrices[i].Sort()
	}
	return &Report{
		APIVersion: ReportAPIVersion,
		Kind:       ReportKind,
		Metadata:   meta,
		Layers:     Summarize(results),
		Results:    results,
		Matrices:   matrices,
	}
}

// Validate checks the schema header, every result and every matrix.
func (r *Report) Validate() error {
	if r.Kind != ReportKind {
		return fmt.Errorf("not a tenantcheck report: kind is %q", r.Kind)
	}
	if r.APIVersion != ReportAPIVersion {
		return fmt.Errorf("unsupported report apiVersion %q (want %s)", r.APIVersion, ReportAPIVersion)
	}
	var errs []error
	for i, s := range r.Layers {
		if !s.Layer.Valid() || !s.Verdict.Valid() {
			errs = append(errs, fmt.Errorf("layers[%d]: unknown layer %q or verdict %q", i, s.Layer, s.Verdict))
		}
	}
	for i, res := range r.Results {
		if err := res.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("results[%d]: %w", i, err))
		}
	}
	for i, p := range r.TenantPairs {
		if !p.Layer.Valid() || !p.Verdict.Valid() || p.From == "" || p.To == "" {
			errs = append(errs, fmt.Errorf("tenantPairs[%d]: want from, to, a known layer and verdict: %+v", i, p))
		}
	}
	for i := range r.Matrices {
		if err := r.Matrices[i].Validate(); err != nil {
			errs = append(errs, fmt.Errorf("matrices[%d]: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

// DecodeReport reads a JSON report. It checks apiVersion and kind before
// anything else, so a file of another kind or version gets a clear error
// rather than an unknown-field one, then decodes strictly (unknown fields
// and trailing data are errors) and validates.
func DecodeReport(r io.Reader) (*Report, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read report: %w", err)
	}
	var header struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := json.Unmarshal(data, &header); err != nil {
		return nil, fmt.Errorf("decode report: %w", err)
	}
	if header.Kind != ReportKind {
		return nil, fmt.Errorf("not a tenantcheck report: kind is %q", header.Kind)
	}
	var rep Report
	switch header.APIVersion {
	case ReportAPIVersion:
		if err := strictDecode(data, &rep); err != nil {
			return nil, err
		}
	case reportV1alpha1:
		if err := decodeV1alpha1(data, &rep); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unsupported report apiVersion %q (want %s or %s)", header.APIVersion, ReportAPIVersion, reportV1alpha1)
	}
	if err := rep.Validate(); err != nil {
		return nil, fmt.Errorf("invalid report: %w", err)
	}
	return &rep, nil
}

func strictDecode(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode report: %w", err)
	}
	if dec.More() {
		return errors.New("decode report: data after the report")
	}
	return nil
}

// decodeV1alpha1 reads a report of the first schema, whose matrices held
// two len(peers) x len(peers) grids, into the current one.
func decodeV1alpha1(data []byte, rep *Report) error {
	type grids struct {
		Name     string    `json:"name"`
		Protocol Protocol  `json:"protocol"`
		Port     int       `json:"port"`
		Via      Via       `json:"via"`
		Peers    []string  `json:"peers"`
		Expected [][]Reach `json:"expected"`
		Observed [][]Reach `json:"observed"`
	}
	type v1alpha1 struct {
		Report
		Matrices []grids `json:"matrices,omitempty"`
	}
	var old v1alpha1
	if err := strictDecode(data, &old); err != nil {
		return err
	}
	*rep = old.Report
	rep.APIVersion = ReportAPIVersion
	rep.Matrices = nil
	for _, g := range old.Matrices {
		m := Matrix{Name: g.Name, Protocol: g.Protocol, Port: g.Port, Via: g.Via, Peers: g.Peers}
		at := func(rows [][]Reach, i, j int) Reach {
			if i < len(rows) && j < len(rows[i]) {
				return rows[i][j]
			}
			return ""
		}
		for i := range g.Peers {
			for j := range g.Peers {
				c := Cell{From: g.Peers[i], To: g.Peers[j], Expected: at(g.Expected, i, j), Observed: at(g.Observed, i, j)}
				if c.Expected != "" || c.Observed != "" {
					m.Cells = append(m.Cells, c)
				}
			}
		}
		rep.Matrices = append(rep.Matrices, m)
	}
	return nil
}
