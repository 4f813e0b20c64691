// Package incluster is the live suite of the in-cluster CronJob (deploy/):
// it applies deploy/local and runs the Job on the cluster. Features are
// labelled mode=incluster.
package incluster

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
