// Package podsecurity is the live suite of audit mode: tenantcheck against existing tenants. Features
// are labelled layer=<layer>, mode=audit and check=<id>.
package audit

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
