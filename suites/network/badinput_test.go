package network

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/tenantcheck/tenantcheck/internal/baseline"
	"github.com/tenantcheck/tenantcheck/internal/provision"
	"github.com/tenantcheck/tenantcheck/suites/suitekit"
)

// A user without the rights a run needs gets one line naming the missing
// verbs and resources, exit code 2, and nothing is created.
func TestMissingPermissionIsNamed(t *testing.T) {
	f := features.New("missing permission is named").
		WithLabel("layer", "network").WithLabel("check", "preflight").
		Assess("a user with no rights is told what it lacks", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			c := suitekit.Client(ctx, t)
			cs := c.Clientset
			ns := "tc-preflight-nobody"
			labels := baseline.OwnershipLabels("preflight")
			_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: labels}}, metav1.CreateOptions{})
			require.NoError(t, err)
			t.Cleanup(func() {
				_, _ = provision.Cleanup(context.Background(), cs, provision.Selector("preflight"), time.Minute)
			})
			require.NoError(t, provision.WaitServiceAccount(ctx, cs, ns, time.Minute))
			exp := int64(600)
			tok, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "default", &authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: &exp}}, metav1.CreateOptions{})
			require.NoError(t, err)

			kc := clientcmdapi.NewConfig()
			kc.Clusters["c"] = &clientcmdapi.Cluster{Server: c.Config.Host, CertificateAuthorityData: caData(t, c.Config.CAData, c.Config.CAFile)}
			kc.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: tok.Status.Token}
			kc.Contexts["nobody"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
			kc.CurrentContext = "nobody"
			path := filepath.Join(t.TempDir(), "nobody.kubeconfig")
			require.NoError(t, clientcmd.WriteToFile(*kc, path))

			before := suitekit.LeftNamespaces(ctx, t)
			cmd := exec.Command(suitekit.BuildCLI(t), "run", "--kubeconfig", path)
			cmd.Env = os.Environ()
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err = cmd.Run()
			var ee *exec.ExitError
			require.True(t, errors.As(err, &ee), "run as a user without rights must fail: %v", err)
			assert.Equal(t, 2, ee.ExitCode())
			assert.Empty(t, stdout.String(), "no report when the run could not be done")
			msg := strings.TrimSpace(stderr.String())
			assert.Contains(t, msg, "missing permission")
			assert.Contains(t, msg, "create namespaces")
			assert.Equal(t, 1, strings.Count(msg, "\n")+1, "one line: %q", msg)
			assert.Equal(t, before, suitekit.LeftNamespaces(ctx, t), "nothing was created")
			return ctx
		}).Feature()
	testenv.Test(t, f)
}

func caData(t *testing.T, data []byte, file string) []byte {
	if len(data) > 0 {
		return data
	}
	b, err := os.ReadFile(file)
	require.NoError(t, err, "read the cluster CA")
	return b
}
