// Package rbac is the live suite of the RBAC layer: it drives tenantcheck's
// engine against a real cluster, breaks a tenant's RBAC on purpose, and
// asserts that exactly the checks that should notice it break. Features are
// labelled layer=rbac and check=<id>; select with --labels.
package rbac

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
