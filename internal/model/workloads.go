package model

import "fmt"

// WorkloadPath is one path to a real port of a tenant's workload that is
// open by policy or in the dataplane (or both), with the three columns an
// audit sets side by side: what the spec intends, what the NetworkPolicies
// say, and what the live probe of the workload's mimic did.
type WorkloadPath struct {
	// From is the source workload shape ("namespace/{app=api}", or
	// "namespace/(a new pod without labels)"); FromTenant its tenant, ""
	// for a namespace of no tenant or a shared one.
	From       string `json:"from"`
	FromTenant string `json:"fromTenant,omitempty"`
	// To is the target workload shape, ToTenant its tenant.
	To       string   `json:"to"`
	ToTenant string   `json:"toTenant"`
	Port     int      `json:"port"`
	Protocol Protocol `json:"protocol"`
	Intended Reach    `json:"intended"`
	Policy   Reach    `json:"policy"`
	// PolicyWhy names the policies that open the path, or what blocks it.
	PolicyWhy string `json:"policyWhy,omitempty"`
	// Dataplane is what the probe saw; empty when the path was not probed
	// live (a shape without a mimic: see the check's reason).
	Dataplane Reach `json:"dataplane,omitempty"`
}

// Pair names the tenant pair of a path ("tenant-a -> tenant-b").
func (w WorkloadPath) Pair() string {
	from := w.FromTenant
	if from == "" {
		from = "(no tenant)"
	}
	return from + " -> " + w.ToTenant
}

// Columns says the three columns in one line.
func (w WorkloadPath) Columns() string {
	live := string(w.Dataplane)
	if live == "" {
		live = "not probed live"
	}
	s := fmt.Sprintf("intended %s, policy %s", w.Intended, w.Policy)
	if w.PolicyWhy != "" {
		s += " (" + w.PolicyWhy + ")"
	}
	return s + ", dataplane " + live
}
