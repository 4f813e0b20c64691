// Package report renders a model.Report for people and for machines: a
// plain-text table for terminals and CI logs, indented JSON that round-trips
// through model.DecodeReport, JUnit XML for CI test dashboards, and
// GitHub-flavoured Markdown for pull requests and issues.
//
// Renderers know nothing about the cluster: they only read the Report value
// the runner returned, so every format can be unit tested with golden files.
// Each renderer builds its whole output in memory and writes it with a single
// Write, so a failed render never leaves half a report on the writer.
package report
