// Package podsecurity is the live suite of the Pod Security layer. Features
// are labelled layer=podsecurity and check=<id>.
package podsecurity

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
