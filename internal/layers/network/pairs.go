package network

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// PairPlan says which ordered pairs of tenants the cross-tenant checks
// probe live (--pairs): every pair, each tenant's two neighbours in name
// order (ring), or K other tenants per tenant drawn with a seed that is
// printed so the run can be repeated (sample=K:SEED).
type PairPlan struct {
	Strategy string // "all", "ring", "sample"; "" is the default: all up to AllPairsUpTo tenants, ring above
	K        int
	Seed     uint64
}

// AllPairsUpTo is the largest tenant count the default probes every pair of.
const AllPairsUpTo = 10

// ParsePairs reads --pairs: "" or "auto", "all", "ring", "sample=K" or
// "sample=K:SEED".
func ParsePairs(s string) (PairPlan, error) {
	switch s {
	case "", "auto":
		return PairPlan{}, nil
	case "all", "ring":
		return PairPlan{Strategy: s}, nil
	}
	rest, ok := strings.CutPrefix(s, "sample=")
	if !ok {
		return PairPlan{}, fmt.Errorf("--pairs %q: want all, ring, sample=K or sample=K:SEED", s)
	}
	k, seed, hasSeed := strings.Cut(rest, ":")
	p := PairPlan{Strategy: "sample"}
	var err error
	if p.K, err = strconv.Atoi(k); err != nil || p.K < 1 {
		return PairPlan{}, fmt.Errorf("--pairs %q: K must be a whole number of at least 1", s)
	}
	if hasSeed {
		if p.Seed, err = strconv.ParseUint(seed, 10, 64); err != nil {
			return PairPlan{}, fmt.Errorf("--pairs %q: SEED must be a whole number", s)
		}
	} else {
		p.Seed = rand.Uint64() % 1_000_000
	}
	return p, nil
}

// PairCoverage is what a plan probes live for a set of tenants.
type PairCoverage struct {
	// Plan is the plan as a --pairs value that repeats it ("sample=3:4711").
	Plan string
	// Live are the ordered tenant pairs probed live; nil when every pair is.
	Live          map[[2]string]bool
	Probed, Total int
}

// Cover resolves the plan for these tenant names.
func (p PairPlan) Cover(tenants []string) PairCoverage {
	names := slices.Clone(tenants)
	slices.Sort(names)
	names = slices.Compact(names)
	n := len(names)
	total := n * (n - 1)
	strategy := p.Strategy
	if strategy == "" {
		strategy = "all"
		if n > AllPairsUpTo {
			strategy = "ring"
		}
	}
	if strategy == "all" || (strategy == "ring" && n <= 3) || (strategy == "sample" && p.K >= n-1) {
		return PairCoverage{Plan: p.String(strategy), Probed: total, Total: total}
	}
	live := map[[2]string]bool{}
	add := func(a, b string) {
		live[[2]string{a, b}] = true
		live[[2]string{b, a}] = true
	}
	switch strategy {
	case "ring":
		for i := range names {
			add(names[i], names[(i+1)%n])
		}
	case "sample":
		r := rand.New(rand.NewPCG(p.Seed, p.Seed))
		for i, a := range names {
			others := slices.Delete(slices.Clone(names), i, i+1)
			r.Shuffle(len(others), func(x, y int) { others[x], others[y] = others[y], others[x] })
			for _, b := range others[:p.K] {
				add(a, b)
			}
		}
	}
	return PairCoverage{Plan: p.String(strategy), Live: live, Probed: len(live), Total: total}
}

// String is the plan as a --pairs value, with the strategy the default
// chose.
func (p PairPlan) String(strategy string) string {
	if strategy == "sample" {
		return fmt.Sprintf("sample=%d:%d", p.K, p.Seed)
	}
	return strategy
}

// All says whether every pair is probed live.
func (c PairCoverage) All() bool { return c.Live == nil }

// Note says, for the cross-tenant checks' reasons, what was not probed live;
// "" when every pair was.
func (c PairCoverage) Note() string {
	if c.All() {
		return ""
	}
	return fmt.Sprintf("--pairs %s: %d of %d ordered tenant pairs probed live; the others were not (run with --pairs all, or another seed, to prove them)",
		c.Plan, c.Probed, c.Total)
}
