package audit

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/suites/suitekit"
)

// Issue 13, must show 2: an audit with --no-pods creates no pod anywhere,
// its own namespaces included (the Flux layer's artifact server was one):
// pods are watched cluster-wide for the whole run.
func TestNoPodsCreatesNoPod(t *testing.T) {
	f := features.New("audit --no-pods creates no pod").
		WithLabel("mode", "audit").WithLabel("check", "no-pods").
		Assess("no pod is created, in any namespace", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			cs := suitekit.Client(ctx, t).Clientset
			specPath := specFile(t, realTenants(ctx, t, cs))
			bin := suitekit.BuildCLI(t)

			list, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
			require.NoError(t, err)
			w, err := cs.CoreV1().Pods("").Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
			require.NoError(t, err)
			var created []string
			done := make(chan struct{})
			go func() {
				defer close(done)
				for ev := range w.ResultChan() {
					if p, ok := ev.Object.(metav1.Object); ok && ev.Type == watch.Added {
						created = append(created, p.GetNamespace()+"/"+p.GetName())
					}
				}
			}()
			cmd := exec.CommandContext(ctx, bin, "audit", "--no-pods", "--spec", specPath, "--kubeconfig", cfg.KubeconfigFile(), "-o", "json")
			cmd.Env = os.Environ()
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			runErr := cmd.Run()
			w.Stop()
			<-done
			require.NoError(t, runErr, "%s", errb.String())
			assert.Empty(t, created, "no pod was created during the run")

			rep, err := model.DecodeReport(strings.NewReader(out.String()))
			require.NoError(t, err)
			live := 0
			for _, r := range rep.Results {
				assert.NotEqual(t, model.LayerNetwork, r.Layer, "--no-pods runs no network check")
				if strings.HasPrefix(r.CheckID, "flux/") && strings.Contains(r.Reason, "--no-pods") {
					live++
					assert.Equal(t, model.VerdictSkipped, r.Verdict, r.CheckID)
				}
			}
			assert.Positive(t, live, "Flux runs here: its live checks say why they were skipped")
			return ctx
		}).Feature()
	testenv.Test(t, f)
}
