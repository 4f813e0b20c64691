package diff

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantcheck/tenantcheck/internal/model"
)

func report(results map[string]model.Judgement) *model.Report {
	var rs []model.Result
	for id, j := range results {
		rs = append(rs, model.Check{ID: id, Layer: model.LayerNetwork, Name: id, Expected: model.ExpectReach(model.ReachBlocked)}.Result(j))
	}
	return model.NewReport(model.Metadata{Mode: model.ModeProvision, Start: time.Unix(0, 0).UTC(), End: time.Unix(1, 0).UTC()}, rs, nil)
}

func ids(cs []Change) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.CheckID)
	}
	return out
}

func TestCompare(t *testing.T) {
	before := report(map[string]model.Judgement{
		"network/a": model.Held("ok"), "network/b": model.Broken("leak"), "network/c": model.Held("ok"),
		"network/d": model.Held("ok"), "network/gone": model.Held("ok"), "network/same": model.Broken("still"),
		"network/e": model.Errored("exec failed"),
	})
	after := report(map[string]model.Judgement{
		"network/a": model.Broken("now leaks"), "network/b": model.Held("ok"), "network/c": model.Errored("exec failed"),
		"network/d": model.Held("ok"), "network/new": model.Held("ok"), "network/same": model.Broken("still"),
		"network/e": model.Broken("leak"),
	})
	d := Compare(before, after)
	assert.Equal(t, []string{"network/a", "network/e"}, ids(d.Regressions), "held->broken and error->broken regress")
	assert.Equal(t, []string{"network/b"}, ids(d.Fixes))
	assert.Equal(t, []string{"network/c"}, ids(d.Degraded))
	assert.Equal(t, []string{"network/new"}, ids(d.Added))
	assert.Equal(t, []string{"network/gone"}, ids(d.Gone))
	assert.Empty(t, d.Other)
	assert.Equal(t, 1, d.ExitCode())

	var buf bytes.Buffer
	require.NoError(t, d.Render(&buf))
	assert.Contains(t, buf.String(), "REGRESSIONS (now broken) (2)")
	assert.Contains(t, buf.String(), "network/a")
	assert.Contains(t, buf.String(), "(now leaks)")
	assert.Contains(t, buf.String(), "RESULT: 2 regression(s), 1 fix(es)")
}

func TestCompareSameIsQuiet(t *testing.T) {
	r := report(map[string]model.Judgement{"network/a": model.Held("ok"), "network/b": model.Broken("leak")})
	d := Compare(r, r)
	assert.Equal(t, Diff{}, d)
	assert.Equal(t, 0, d.ExitCode())
}
