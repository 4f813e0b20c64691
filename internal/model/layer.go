package model

// Layer is one control of the isolation stack described by the
// multi-tenancy guide. Each layer is checked and summarised separately.
type Layer string

// The layers of the guide's isolation stack.
const (
	LayerNamespace   Layer = "namespace"
	LayerRBAC        Layer = "rbac"
	LayerPodSecurity Layer = "podsecurity"
	LayerQuota       Layer = "quota"
	LayerNetwork     Layer = "network"
	LayerFlux        Layer = "flux"
)

// LayerInfo describes what a layer is for, in the words of the guide's
// "layered model" table, so reports can say what a broken layer exposes.
type LayerInfo struct {
	Layer           Layer  `json:"layer"`
	Title           string `json:"title"`
	ProtectsAgainst string `json:"protectsAgainst"`
	CommonFailure   string `json:"commonFailure"`
}

// layers is the guide's table, in the order the guide lists it; reports
// follow the same order.
var layers = []LayerInfo{
	{LayerNamespace, "Namespace", "accidental object overlap", "everything lands in default"},
	{LayerRBAC, "RBAC", "API misuse across tenant boundaries", "broad ClusterRoleBinding"},
	{LayerPodSecurity, "Pod Security Admission", "privileged or unsafe pod specs",
		"tenants can request risky pod settings"},
	{LayerQuota, "ResourceQuota and LimitRange", "noisy-neighbor resource exhaustion",
		"requests and limits omitted"},
	{LayerNetwork, "NetworkPolicy", "lateral traffic between tenants", "flat east-west connectivity"},
	{LayerFlux, "Flux impersonation", "GitOps reconciling with excessive privileges",
		"controller runs effectively as cluster admin"},
}

// Layers returns every known layer in report order. The slice is a copy.
func Layers() []LayerInfo {
	return append([]LayerInfo(nil), layers...)
}

// InfoFor returns the description of l, and false when l is not a known layer.
func InfoFor(l Layer) (LayerInfo, bool) {
	for _, info := range layers {
		if info.Layer == l {
			return info, true
		}
	}
	return LayerInfo{}, false
}

// Valid reports whether l is one of the known layers.
func (l Layer) Valid() bool {
	_, ok := InfoFor(l)
	return ok
}

// order is l's position in report order; unknown layers sort last.
func (l Layer) order() int {
	for i, info := range layers {
		if info.Layer == l {
			return i
		}
	}
	return len(layers)
}
