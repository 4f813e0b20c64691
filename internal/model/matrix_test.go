package model

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

const (
	podA = "tenant-a-prod/probe"
	podB = "tenant-b-prod/probe"
	podS = "ingress-shared/probe"
)

// exampleMatrix is the guide baseline with one leak (a→b) and one probe error.
func exampleMatrix(t *testing.T) *Matrix {
	t.Helper()
	peers := []string{podA, podB, podS}
	m := NewMatrix(ProtocolTCP, 8080, ViaPodIP, peers)
	for _, from := range peers {
		for _, to := range peers {
			want := ReachBlocked
			if from == to || from == podS {
				want = ReachAllowed
			}
			require.NoError(t, m.SetExpected(from, to, want))
			require.NoError(t, m.SetObserved(from, to, want))
		}
	}
	require.NoError(t, m.SetObserved(podA, podB, ReachAllowed))
	require.NoError(t, m.SetObserved(podS, podB, ReachError))
	return m
}

func TestMatrixSetGet(t *testing.T) {
	m := exampleMatrix(t)
	assert.Equal(t, "TCP/8080 via pod IP", m.Name)

	c, err := m.Get(podA, podB)
	require.NoError(t, err)
	assert.Equal(t, Cell{From: podA, To: podB, Expected: ReachBlocked, Observed: ReachAllowed}, c)
	assert.True(t, c.Mismatch())

	_, err = m.Get(podA, "nope/pod")
	assert.ErrorContains(t, err, `unknown peer "nope/pod"`)
	assert.ErrorContains(t, m.SetObserved("nope/pod", podA, ReachAllowed), "unknown peer")
	assert.ErrorContains(t, m.SetObserved(podA, podA, "Maybe"), `invalid reach "Maybe"`)
	assert.NoError(t, m.Validate())
}

func TestMatrixMismatches(t *testing.T) {
	m := exampleMatrix(t)
	assert.Equal(t, []Cell{
		{From: podA, To: podB, Expected: ReachBlocked, Observed: ReachAllowed},
		{From: podS, To: podB, Expected: ReachAllowed, Observed: ReachError},
	}, m.Mismatches())

	empty := NewMatrix(ProtocolUDP, 5353, ViaServiceName, []string{podA, podB})
	require.NoError(t, empty.SetExpected(podA, podB, ReachBlocked))
	assert.Empty(t, empty.Mismatches(), "unprobed cells are not mismatches")
}

func TestMatrixGrid(t *testing.T) {
	m := exampleMatrix(t)
	assert.Equal(t, [][]string{
		{"", "0", "1", "2"},
		{"0 " + podA, ".", ".*", "X"},
		{"1 " + podB, "X", ".", "X"},
		{"2 " + podS, ".", "!*", "."},
	}, m.Grid())
}

func TestMatrixString(t *testing.T) {
	golden(t, "matrix.txt", exampleMatrix(t).String())
}

func TestMatrixValidate(t *testing.T) {
	m := exampleMatrix(t)
	m.Cells[0].To = "nope/pod"
	assert.ErrorContains(t, m.Validate(), "not both among its peers")

	m = exampleMatrix(t)
	m.Cells = append(m.Cells, m.Cells[1])
	assert.ErrorContains(t, m.Validate(), "listed twice")

	m = exampleMatrix(t)
	m.Cells[0].Expected = "Maybe"
	assert.ErrorContains(t, m.Validate(), `invalid reach "Maybe"`)
}

// Cells are sparse: a pair nobody planned has no cell, and Sort lays the
// planned ones out row by row whatever order they were filled in.
func TestMatrixSparse(t *testing.T) {
	m := NewMatrix(ProtocolTCP, 8080, ViaPodIP, []string{podA, podB, podS})
	require.NoError(t, m.SetExpected(podS, podA, ReachAllowed))
	require.NoError(t, m.SetExpected(podA, podB, ReachBlocked))
	require.NoError(t, m.SetObserved(podA, podB, ReachBlocked))
	assert.Len(t, m.Cells, 2)
	m.Sort()
	assert.Equal(t, []Cell{
		{From: podA, To: podB, Expected: ReachBlocked, Observed: ReachBlocked},
		{From: podS, To: podA, Expected: ReachAllowed},
	}, m.Cells)
	c, err := m.Get(podB, podA)
	require.NoError(t, err)
	assert.Equal(t, Cell{From: podB, To: podA}, c, "unplanned")
	require.NoError(t, m.SetObserved(podS, podA, ReachAllowed), "after Sort the lookup is rebuilt")
	assert.Len(t, m.Cells, 2)
	assert.Equal(t, [][]string{
		{"", "0", "1", "2"},
		{"0 " + podA, "?", "X", "?"},
		{"1 " + podB, "?", "?", "?"},
		{"2 " + podS, ".", "?", "?"},
	}, m.Grid())
}

// golden compares got with testdata/name, rewriting it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create %s", path)
	assert.Equal(t, string(want), got)
}
