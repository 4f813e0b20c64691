// Package kindconfig holds the kind cluster configurations the suites run on
// in CI (calico.yaml, kindnet.yaml). The Go files only test that the configs
// decode with kind's own config API: these machines have no Docker engine,
// so the clusters themselves are not created here.
package kindconfig
