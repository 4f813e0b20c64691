package layers

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantcheck/tenantcheck/internal/model"
)

// Every layer value is complete: an ID the model knows, checks of its own
// layer with unique IDs, a Run, and Needs.
func TestEveryLayerIsComplete(t *testing.T) {
	seen := map[string]bool{}
	for _, l := range All() {
		assert.True(t, l.ID.Valid(), "layer %q is in the model's table", l.ID)
		assert.NotNil(t, l.Run, "%s has a Run", l.ID)
		assert.NotNil(t, l.Needs, "%s declares its permissions", l.ID)
		assert.NotEmpty(t, l.Summary, "%s has a summary", l.ID)
		require.NotEmpty(t, l.Checks, "%s has checks", l.ID)
		for _, c := range l.Checks {
			assert.Equal(t, l.ID, c.Layer, c.ID)
			assert.NoError(t, c.Expected.Validate(), c.ID)
			assert.False(t, seen[c.ID], "check %s is listed once", c.ID)
			seen[c.ID] = true
		}
		for _, m := range []model.Mode{model.ModeProvision, model.ModeAudit} {
			assert.NotEmpty(t, l.Needs(m), "%s needs something in %s mode", l.ID, m)
		}
	}
}

// The README's table of layers lists exactly the layers of All, in order.
func TestReadmeTableFollowsTheList(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	require.NoError(t, err)
	var rows []model.Layer
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z]+)` \\|").FindAllStringSubmatch(string(data), -1) {
		rows = append(rows, model.Layer(m[1]))
	}
	assert.Equal(t, IDs(), rows)
}

func TestSelectKeepsRunOrder(t *testing.T) {
	got, _, ok := Select([]model.Layer{model.LayerFlux, model.LayerNetwork})
	require.True(t, ok)
	require.Len(t, got, 2)
	assert.Equal(t, model.LayerNetwork, got[0].ID)
	assert.Equal(t, model.LayerFlux, got[1].ID)
	_, bad, ok := Select([]model.Layer{"network", "nope"})
	assert.False(t, ok)
	assert.Equal(t, model.Layer("nope"), bad)
}
