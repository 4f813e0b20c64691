// Package podsecurity is the live suite of the quota and LimitRange layer. Features
// are labelled layer=quota and check=<id>.
package quota

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
