package model

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Matrix is the reachability truth table of one (protocol, port, via)
// combination: peers probing peers, expected next to observed. It is
// sparse: Cells lists only the (from, to) pairs the run planned, so a run
// of a thousand tenants that probes each against its neighbours does not
// write a million empty cells.
type Matrix struct {
	Name     string   `json:"name"`
	Protocol Protocol `json:"protocol"`
	Port     int      `json:"port"`
	Via      Via      `json:"via"`
	// Peers are "namespace/pod" names (or namespace names), in the order
	// grids draw them.
	Peers []string `json:"peers"`
	// Cells are the planned (from, to) pairs, row by row in Peers order once
	// the matrix is in a report; a pair not listed was not planned, and a
	// listed cell with no observed value was not probed.
	Cells []Cell `json:"cells"`

	peerAt map[string]int // peer -> index in Peers
	cellAt map[[2]int]int // (from, to) indexes -> index in Cells
}

// Cell is one (from, to) entry of a matrix.
type Cell struct {
	From     string `json:"from"`
	To       string `json:"to"`
	Expected Reach  `json:"expected,omitempty"`
	Observed Reach  `json:"observed,omitempty"`
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
	}
}

// SetExpected records the expected reachability from one peer to another.
func (m *Matrix) SetExpected(from, to string, r Reach) error {
	c, err := m.at(from, to, r)
	if err == nil {
		c.Expected = r
	}
	return err
}

// SetObserved records the observed reachability from one peer to another.
func (m *Matrix) SetObserved(from, to string, r Reach) error {
	c, err := m.at(from, to, r)
	if err == nil {
		c.Observed = r
	}
	return err
}

// at is the cell from one peer to another, added when it is not there yet.
func (m *Matrix) at(from, to string, r Reach) (*Cell, error) {
	if !r.Valid() {
		return nil, fmt.Errorf("matrix %s: invalid reach %q", m.Name, r)
	}
	i, j, err := m.index(from, to)
	if err != nil {
		return nil, err
	}
	k, ok := m.cellAt[[2]int{i, j}]
	if !ok {
		k = len(m.Cells)
		m.Cells = append(m.Cells, Cell{From: from, To: to})
		m.cellAt[[2]int{i, j}] = k
	}
	return &m.Cells[k], nil
}

// Get returns the cell from one peer to another (empty when not planned).
func (m *Matrix) Get(from, to string) (Cell, error) {
	i, j, err := m.index(from, to)
	if err != nil {
		return Cell{}, err
	}
	return m.cell(i, j), nil
}

// index finds both peers, building the lookup tables on first use (a
// decoded matrix has none) or when Cells changed behind them.
func (m *Matrix) index(from, to string) (int, int, error) {
	if m.peerAt == nil || len(m.cellAt) != len(m.Cells) {
		m.peerAt = make(map[string]int, len(m.Peers))
		for i, p := range m.Peers {
			m.peerAt[p] = i
		}
		m.cellAt = make(map[[2]int]int, len(m.Cells))
		for k, c := range m.Cells {
			if i, ok := m.peerAt[c.From]; ok {
				if j, ok := m.peerAt[c.To]; ok {
					m.cellAt[[2]int{i, j}] = k
				}
			}
		}
	}
	i, ok := m.peerAt[from]
	if !ok {
		return 0, 0, fmt.Errorf("matrix %s: unknown peer %q", m.Name, from)
	}
	j, ok := m.peerAt[to]
	if !ok {
		return 0, 0, fmt.Errorf("matrix %s: unknown peer %q", m.Name, to)
	}
	return i, j, nil
}

// cell reads (i, j); index has built the tables.
func (m *Matrix) cell(i, j int) Cell {
	if k, ok := m.cellAt[[2]int{i, j}]; ok {
		return m.Cells[k]
	}
	return Cell{From: m.Peers[i], To: m.Peers[j]}
}

// Sort puts Cells row by row in Peers order (NewReport does), so a report
// reads and diffs the same whatever order the checks filled it in.
func (m *Matrix) Sort() {
	if len(m.Peers) == 0 {
		return
	}
	_, _, _ = m.index(m.Peers[0], m.Peers[0])
	pos := func(c Cell) (int, int) { return m.peerAt[c.From], m.peerAt[c.To] }
	slices.SortStableFunc(m.Cells, func(a, b Cell) int {
		ai, aj := pos(a)
		bi, bj := pos(b)
		if ai != bi {
			return ai - bi
		}
		return aj - bj
	})
	m.cellAt = nil
	m.peerAt = nil
}

// Mismatches lists, row by row, the cells whose observed value is known and
// differs from the expected one. An observed Error is a mismatch too: it is
// shown, but judging it (Error, not Broken) is JudgeReach's job.
func (m *Matrix) Mismatches() []Cell {
	var out []Cell
	for _, c := range m.Cells {
		if c.Mismatch() {
			out = append(out, c)
		}
	}
	if len(m.Peers) > 0 {
		_, _, _ = m.index(m.Peers[0], m.Peers[0])
		slices.SortStableFunc(out, func(a, b Cell) int {
			if d := m.peerAt[a.From] - m.peerAt[b.From]; d != 0 {
				return d
			}
			return m.peerAt[a.To] - m.peerAt[b.To]
		})
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
	if len(m.Peers) > 0 {
		_, _, _ = m.index(m.Peers[0], m.Peers[0])
	}
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

// Validate checks that every cell joins two of Peers, at most once, and
// holds only known values (or empty ones).
func (m *Matrix) Validate() error {
	peers := make(map[string]int, len(m.Peers))
	for i, p := range m.Peers {
		if _, dup := peers[p]; dup {
			return fmt.Errorf("matrix %s: peer %q listed twice", m.Name, p)
		}
		peers[p] = i
	}
	seen := make(map[[2]int]bool, len(m.Cells))
	for k, c := range m.Cells {
		i, okFrom := peers[c.From]
		j, okTo := peers[c.To]
		if !okFrom || !okTo {
			return fmt.Errorf("matrix %s: cells[%d] %s -> %s: not both among its peers", m.Name, k, c.From, c.To)
		}
		if seen[[2]int{i, j}] {
			return fmt.Errorf("matrix %s: cells[%d] %s -> %s: listed twice", m.Name, k, c.From, c.To)
		}
		seen[[2]int{i, j}] = true
		for _, r := range []Reach{c.Expected, c.Observed} {
			if r != "" && !r.Valid() {
				return fmt.Errorf("matrix %s: cells[%d] %s -> %s: invalid reach %q", m.Name, k, c.From, c.To, r)
			}
		}
	}
	return nil
}
