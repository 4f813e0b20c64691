// Package layers is the one list of the layers tenantcheck checks, in run
// order. A new layer is a new package under this folder that provides a
// layer.Layer, plus one line here: the CLI's --layers, the default list,
// preflight's permissions and cleanup's kinds all derive from this list.
package layers

import (
	"github.com/tenantcheck/tenantcheck/internal/layer"
	"github.com/tenantcheck/tenantcheck/internal/layers/flux"
	"github.com/tenantcheck/tenantcheck/internal/layers/namespace"
	"github.com/tenantcheck/tenantcheck/internal/layers/network"
	"github.com/tenantcheck/tenantcheck/internal/layers/podsecurity"
	"github.com/tenantcheck/tenantcheck/internal/layers/quota"
	"github.com/tenantcheck/tenantcheck/internal/layers/rbac"
	"github.com/tenantcheck/tenantcheck/internal/model"
)

// All returns every layer, in run order. The slice is a copy.
func All() []layer.Layer {
	return []layer.Layer{
		namespace.Layer,
		network.Layer,
		podsecurity.Layer,
		quota.Layer,
		rbac.Layer,
		flux.Layer,
	}
}

// IDs are the IDs of every layer, in run order.
func IDs() []model.Layer {
	var out []model.Layer
	for _, l := range All() {
		out = append(out, l.ID)
	}
	return out
}

// Select returns the layers with the given IDs, in run order; ok is false
// with the first unknown ID.
func Select(ids []model.Layer) ([]layer.Layer, model.Layer, bool) {
	var out []layer.Layer
	for _, id := range ids {
		found := false
		for _, l := range All() {
			if l.ID == id {
				found = true
			}
		}
		if !found {
			return nil, id, false
		}
	}
	for _, l := range All() {
		for _, id := range ids {
			if l.ID == id {
				out = append(out, l)
				break
			}
		}
	}
	return out, "", true
}
