// Package namespace is the live suite of the namespace layer. Features
// are labelled layer=namespace and check=<id>.
package namespace

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
