// Package incluster is what a scheduled run inside the cluster needs beyond
// the CLI: a Lease so two runs never overlap, the report kept in a ConfigMap
// (latest and previous, so each run diffs against the last), an Event per
// broken layer on the tenant namespaces for alerting, and a sweep of what
// crashed runs left behind.
package incluster
