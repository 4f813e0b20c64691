// Package network is the live suite of the network layer: it drives
// tenantcheck's engine against a real cluster and asserts what it must find.
// Features are labelled layer=network and check=<id>; select with --labels.
package network

import (
	"os"
	"testing"

	"sigs.k8s.io/e2e-framework/pkg/env"

	"github.com/tenantcheck/tenantcheck/suites/suitekit"
)

var testenv env.Environment

func TestMain(m *testing.M) {
	testenv = suitekit.NewEnv()
	os.Exit(testenv.Run(m))
}
