// Package flux is the live suite of the Flux layer. Features are labelled
// layer=flux and check=<id>. Two of them reconfigure the local cluster's
// Flux (without the lockdown flags; not installed) and restore it after.
package flux

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
