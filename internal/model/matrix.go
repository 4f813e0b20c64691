package model

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Matrix is the reachability truth table of one (protocol, port, via)
// combination: every peer probing every peer, expected next to observed.
// Rows are sources, columns are targets, both indexed like Peers.
type Matrix struct {
	Name     string   `json:"name"`
	Protocol Protocol `json:"protocol"`
	Port     int      `json:"port"`
	Via      Via      `json:"via"`
	// Peers are "namespace/pod" names (or namespace names).
	Peers []string `json:"peers"`
	// Expected and Observed are len(Peers) x len(Peers); an empty cell was
	// not planned or not probed.
	Expected [][]Reach `json:"expected"`
	Observed [][]Reach `json:"observed"`
}

// Cell is one (from, to) entry of a matrix.
type Cell struct {
	From     string `json:"from"`
	To       string `json:"to"`
	Expected Reach  `json:"expected"`
	Observed Reach  `json:"observed"`
}

// Mismatch reports whether both values are known and differ.
func (c Cell) Mismatch() bool {
	return c.Expected != "" && c.Observed != "" && c.Expected != c.Observed
}

// NewMatrix returns an empty matrix over peers for one combination.
func NewMatrix(p Protocol, port int, via Via, peers []string) *Matrix {
	return &Matrix{
		Name:     MatrixName(p, port, via),
		Protocol: p,
		Port:     port,
		Via:      via,
		Peers:    slices.Clone(peers),
		Expected: grid(len(peers)),
		Observed: grid(len(peers)),
	}
}

func grid(n int) [][]Reach {
	g := make([][]Reach, n)
	for i := range g {
		g[i] = make([]Reach, n)
	}
	return g
}

// SetExpected records the expected reachability from one peer to another.
func (m *Matrix) SetExpected(from, to string, r Reach) error {
	return m.set(m.Expected, from, to, r)
}

// SetObserved records the observed reachability from one peer to another.
func (m *Matrix) SetObserved(from, to string, r Reach) error {
	return m.set(m.Observed, from, to, r)
}

func (m *Matrix) set(g [][]Reach, from, to string, r Reach) error {
	if !r.Valid() {
		return fmt.Errorf("matrix %s: invalid reach %q", m.Name, r)
	}
	i, j, err := m.index(from, to)
	if err != nil {
		return err
	}
	if i >= len(g) || j >= len(g[i]) {
		return fmt.Errorf("matrix %s: grid smaller than its peers", m.Name)
	}
	g[i][j] = r
	return nil
}

// Get returns the cell from one peer to another.
func (m *Matrix) Get(from, to string) (Cell, error) {
	i, j, err := m.index(from, to)
	if err != nil {
		return Cell{}, err
	}
	return m.cell(i, j), nil
}

func (m *Matrix) index(from, to string) (int, int, error) {
	i := slices.Index(m.Peers, from)
	if i < 0 {
		return 0, 0, fmt.Errorf("matrix %s: unknown peer %q", m.Name, from)
	}
	j := slices.Index(m.Peers, to)
	if j < 0 {
		return 0, 0, fmt.Errorf("matrix %s: unknown peer %q", m.Name, to)
	}
	return i, j, nil
}

// cell reads (i, j) tolerating ragged grids from a decoded report.
func (m *Matrix) cell(i, j int) Cell {
	c := Cell{From: m.Peers[i], To: m.Peers[j]}
	if i < len(m.Expected) && j < len(m.Expected[i]) {
		c.Expected = m.Expected[i][j]
	}
	if i < len(m.Observed) && j < len(m.Observed[i]) {
		c.Observed = m.Observed[i][j]
	}
	return c
}

// Mismatches lists, row by row, the cells whose observed value is known and
// differs from the expected one. An observed Error is a mismatch too: it is
// shown, but judging it (Error, not Broken) is JudgeReach's job.
func (m *Matrix) Mismatches() []Cell {
	var out []Cell
	for i := range m.Peers {
		for j := range m.Peers {
			if c := m.cell(i, j); c.Mismatch() {
				out = append(out, c)
			}
		}
	}
	return out
}

// MatrixLegend explains the symbols of Grid and String.
const MatrixLegend = ". allowed   X blocked   ! error   ? not probed   * differs from expected"

// Grid lays the matrix out for a renderer, cyclonus style: a header row of
// column indexes, then one row per source whose first cell is "index peer"
// and whose other cells are the observed symbol, followed by "*" when it
// differs from the expected value.
func (m *Matrix) Grid() [][]string {
	header := []string{""}
	for j := range m.Peers {
		header = append(header, strconv.Itoa(j))
	}
	rows := [][]string{header}
	for i, from := range m.Peers {
		row := []string{fmt.Sprintf("%d %s", i, from)}
		for j := range m.Peers {
			c := m.cell(i, j)
			sym := c.Observed.Symbol()
			if c.Mismatch() {
				sym += "*"
			}
			row = append(row, sym)
		}
		rows = append(rows, row)
	}
	return rows
}

// String renders Grid as aligned plain text with the name on top and the
// legend below; handy in test failure messages. Renderers in the report
// package may lay Grid out differently.
func (m *Matrix) String() string {
	rows := m.Grid()
	width := 0
	for _, row := range rows {
		width = max(width, len(row[0]))
	}
	var b strings.Builder
	b.WriteString(m.Name + "\n")
	for _, row := range rows {
		line := fmt.Sprintf("%-*s", width, row[0])
		for _, c := range row[1:] {
			line += fmt.Sprintf(" %-3s", c)
		}
		b.WriteString(strings.TrimRight(line, " ") + "\n")
	}
	b.WriteString(MatrixLegend + "\n")
	return b.String()
}

// Validate checks that both grids are square over Peers and hold only known
// values (or empty cells).
func (m *Matrix) Validate() error {
	for _, g := range []struct {
		name string
		grid [][]Reach
	}{{"expected", m.Expected}, {"observed", m.Observed}} {
		if len(g.grid) != len(m.Peers) {
			return fmt.Errorf("matrix %s: %s has %d rows for %d peers", m.Name, g.name, len(g.grid), len(m.Peers))
		}
		for i, row := range g.grid {
			if len(row) != len(m.Peers) {
				return fmt.Errorf("matrix %s: %s row %d has %d cells for %d peers",
					m.Name, g.name, i, len(row), len(m.Peers))
			}
			for j, r := range row {
				if r != "" && !r.Valid() {
					return fmt.Errorf("matrix %s: %s[%d][%d]: invalid reach %q", m.Name, g.name, i, j, r)
				}
			}
		}
	}
	return nil
}
