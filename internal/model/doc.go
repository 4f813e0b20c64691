// Package model holds the plain types of a tenantcheck run: the isolation
// layers, what a check expects, what the probes observed, the pure functions
// that compare the two, and the versioned Report that renderers print.
//
// The package imports neither client-go nor any renderer so that the
// expected → observed → compared flow can be unit tested without a cluster,
// in the way the upstream netpol suite keeps its truth table apart from the
// code that talks to the API server.
package model
