package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/tenantcheck/tenantcheck/internal/kube"
	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/internal/spec"
)

// isolate points KUBECONFIG at a file that does not exist, so no test ever
// reads the real environment's clusters.
func isolate(t *testing.T) {
	t.Helper()
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "absent-kubeconfig"))
	t.Setenv("TENANTCHECK_PROBE_IMAGE", "")
	t.Setenv("TENANTCHECK_IMAGE_PULL_POLICY", "")
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

// unreachableKubeconfig names a cluster on 127.0.0.1:1, where nothing
// listens: connecting is refused at once.
func unreachableKubeconfig(t *testing.T) string {
	t.Helper()
	return writeFile(t, "kubeconfig", `apiVersion: v1
kind: Config
clusters:
- name: nowhere
  cluster:
    server: https://127.0.0.1:1
    insecure-skip-tls-verify: true
users:
- name: someone
  user:
    token: not-a-real-token
contexts:
- name: nowhere
  context: {cluster: nowhere, user: someone}
current-context: nowhere
`)
}

type outcome struct {
	code        int
	out, errOut string
}

func run(t *testing.T, args ...string) outcome {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := Run(ctx, Streams{In: strings.NewReader(""), Out: &out, Err: &errOut}, args)
	return outcome{code: code, out: out.String(), errOut: errOut.String()}
}

func TestBadInput(t *testing.T) {
	isolate(t)
	kubeconfig := unreachableKubeconfig(t)
	invalidSpec := writeFile(t, "spec.yaml", `apiVersion: tenantcheck.io/v1alpha1
kind: TenancySpec
tenants:
- name: tenant-a
  namespaces: [tenant-a-prod]
- name: tenant-b
  namespaces: [Foo]
`)
	tests := []struct {
		name string
		args []string
		want []string // each must be in the one line on stderr
	}{
		{"unknown command", []string{"frobnicate"}, []string{`unknown command "frobnicate"`, "tenantcheck --help"}},
		{"unknown output format", []string{"run", "-o", "yaml"}, []string{`"yaml"`, "table, json, junit, markdown"}},
		{"unknown output format, long flag", []string{"run", "--output", "html"}, []string{`"html"`, "table, json, junit, markdown"}},
		{"unknown layer", []string{"run", "--layers", "bogus"}, []string{`--layers`, `"bogus"`, "available: namespace, network, podsecurity, quota, rbac, flux"}},
		{"unknown layer after a good one", []string{"run", "--layers", "network,bogus2"}, []string{`"bogus2"`}},
		{"bad pull policy", []string{"run", "--image-pull-policy", "Sometimes"}, []string{`--image-pull-policy "Sometimes"`, "Always, IfNotPresent or Never"}},
		{"stray argument", []string{"run", "network"}, []string{`run takes no arguments, got "network"`}},
		{"missing spec file", []string{"run", "--spec", "/nonexistent.yaml"}, []string{"read spec", "/nonexistent.yaml", "no such file"}},
		{"invalid spec", []string{"run", "--spec", invalidSpec}, []string{invalidSpec, `tenants[1].namespaces[0]`, `"Foo"`}},
		{"missing kubeconfig", []string{"run", "--kubeconfig", "/nonexistent"}, []string{"kubeconfig /nonexistent", "not found"}},
		{"no kubeconfig at all", []string{"run"}, []string{"no kubeconfig found"}},
		{"unknown context", []string{"run", "--kubeconfig", kubeconfig, "--context", "nope"}, []string{`context "nope" not found`}},
		{"unreachable cluster", []string{"run", "--kubeconfig", kubeconfig}, []string{"unreachable", "https://127.0.0.1:1"}},
		{"cleanup: missing kubeconfig", []string{"cleanup", "--kubeconfig", "/nonexistent"}, []string{"kubeconfig /nonexistent", "not found"}},
		{"cleanup: unknown context", []string{"cleanup", "--kubeconfig", kubeconfig, "--context", "nope"}, []string{`context "nope" not found`}},
		{"cleanup: unreachable cluster", []string{"cleanup", "--kubeconfig", kubeconfig}, []string{"unreachable", "https://127.0.0.1:1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := run(t, tt.args...)
			assert.Equal(t, ExitIncomplete, got.code)
			assert.Empty(t, got.out, "nothing on stdout")
			assert.True(t, strings.HasPrefix(got.errOut, "tenantcheck: "), "stderr: %q", got.errOut)
			assert.Equal(t, 1, strings.Count(got.errOut, "\n"), "one line on stderr: %q", got.errOut)
			for _, w := range tt.want {
				assert.Contains(t, got.errOut, w)
			}
		})
	}
}

// yaml.v3 reports unknown fields as a list under a header line, so this
// message takes two lines; it still names the file, the line and the field.
func TestUnknownSpecField(t *testing.T) {
	isolate(t)
	spec := writeFile(t, "spec.yaml", `apiVersion: tenantcheck.io/v1alpha1
kind: TenancySpec
tenants:
- name: tenant-a
  namespaces: [tenant-a-prod]
  namespace: tenant-a-dev
- name: tenant-b
  namespaces: [tenant-b-prod]
`)
	got := run(t, "run", "--spec", spec)
	assert.Equal(t, ExitIncomplete, got.code)
	assert.Empty(t, got.out)
	assert.True(t, strings.HasPrefix(got.errOut, "tenantcheck: "+spec+": parse spec: "), got.errOut)
	assert.Contains(t, got.errOut, `line 6: unknown field "namespace"`)
}

func TestBadFlags(t *testing.T) {
	isolate(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"run", "--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"run", "--timeout", "soon"}, `invalid value "soon" for flag -timeout`},
		{[]string{"cleanup", "--bogus"}, "flag provided but not defined: -bogus"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			got := run(t, tt.args...)
			assert.Equal(t, ExitIncomplete, got.code)
			assert.Empty(t, got.out)
			assert.Contains(t, got.errOut, tt.want)
			assert.Contains(t, got.errOut, "Usage of", "the flag set's usage goes to stderr")
		})
	}
}

func TestVersionAndHelp(t *testing.T) {
	isolate(t)
	tests := []struct {
		name     string
		args     []string
		code     int
		out, err string
	}{
		{"version", []string{"version"}, ExitHeld, "tenantcheck dev\n", ""},
		{"help", []string{"help"}, ExitHeld, usage, ""},
		{"--help", []string{"--help"}, ExitHeld, usage, ""},
		{"no command", nil, ExitIncomplete, "", usage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := run(t, tt.args...)
			assert.Equal(t, tt.code, got.code)
			assert.Equal(t, tt.out, got.out)
			assert.Equal(t, tt.err, got.errOut)
		})
	}
}

func TestCommandHelpExitsZero(t *testing.T) {
	isolate(t)
	for _, cmd := range []string{"run", "cleanup"} {
		t.Run(cmd, func(t *testing.T) {
			got := run(t, cmd, "-h")
			assert.Equal(t, ExitHeld, got.code)
			assert.Empty(t, got.out)
			assert.Contains(t, got.errOut, "-kubeconfig")
			assert.NotContains(t, got.errOut, "tenantcheck: ", "asking for help is no error")
		})
	}
}

func TestParseRunDefaults(t *testing.T) {
	isolate(t)
	var errw bytes.Buffer
	f, err := parseRun(nil, &errw, model.ModeProvision)
	require.NoError(t, err)
	assert.Equal(t, "table", f.output)
	assert.Equal(t, "namespace,network,podsecurity,quota,rbac,flux", f.layers)
	assert.Equal(t, "IfNotPresent", f.pull)
	assert.Equal(t, "ghcr.io/tenantcheck/tenantcheck-probe:dev", f.image)
	assert.Equal(t, time.Second, f.probeTO)
	assert.Equal(t, 10*time.Minute, f.timeout)
	assert.Equal(t, "cluster.local", f.domain)
	assert.Empty(t, errw.String())

	t.Setenv("TENANTCHECK_PROBE_IMAGE", "localhost/probe:test")
	t.Setenv("TENANTCHECK_IMAGE_PULL_POLICY", "Never")
	f, err = parseRun([]string{"-o", "json"}, &errw, model.ModeProvision)
	require.NoError(t, err)
	assert.Equal(t, "localhost/probe:test", f.image)
	assert.Equal(t, "Never", f.pull)
	assert.Equal(t, "json", f.output)

	t.Setenv("TENANTCHECK_IMAGE_PULL_POLICY", "Sometimes")
	_, err = parseRun(nil, &errw, model.ModeProvision)
	assert.ErrorContains(t, err, `"Sometimes"`, "the environment is validated like the flag")
}

func TestParseLayers(t *testing.T) {
	net, psa := model.LayerNetwork, model.LayerPodSecurity
	tests := []struct {
		in      string
		want    []model.Layer
		wantErr string
	}{
		{"network", []model.Layer{net}, ""},
		{" network ", []model.Layer{net}, ""},
		{"podsecurity", []model.Layer{psa}, ""},
		{"network, podsecurity", []model.Layer{net, psa}, ""},
		{"podsecurity,network", []model.Layer{psa, net}, ""},
		{"", nil, `layer ""`},
		{"rbac", []model.Layer{model.LayerRBAC}, ""},
		{"flux", []model.Layer{model.LayerFlux}, ""},
		{"bogus2", nil, `layer "bogus2"`},
		{"network,", nil, `layer ""`},
		{"Network", nil, `layer "Network"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseLayers(tt.in)
			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
				assert.Nil(t, got)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestDiffCommand(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, v model.Verdict) string {
		j := model.Held("ok")
		if v == model.VerdictBroken {
			j = model.Broken("leak")
		}
		r := model.NewReport(model.Metadata{Mode: model.ModeProvision}, []model.Result{
			model.Check{ID: "network/cross-tenant-tcp", Layer: model.LayerNetwork, Name: "x", Expected: model.ExpectReach(model.ReachBlocked)}.Result(j),
		}, nil)
		b, err := json.Marshal(r)
		require.NoError(t, err)
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, b, 0o644))
		return p
	}
	held, broken := write("held.json", model.VerdictHeld), write("broken.json", model.VerdictBroken)
	foreign := filepath.Join(dir, "foreign.json")
	require.NoError(t, os.WriteFile(foreign, []byte(`{"apiVersion":"v1","kind":"ConfigMap"}`), 0o644))
	corrupt := filepath.Join(dir, "corrupt.json")
	require.NoError(t, os.WriteFile(corrupt, []byte(`{"apiVersion": "tenantcheck.io/v1alpha1", "kind": "Rep`), 0o644))
	for _, tt := range []struct {
		name    string
		args    []string
		code    int
		out, er string
	}{
		{"regression", []string{"diff", held, broken}, 1, "REGRESSIONS (now broken) (1)", ""},
		{"fix", []string{"diff", broken, held}, 0, "FIXED (1)", ""},
		{"same", []string{"diff", held, held}, 0, "RESULT: 0 regression(s)", ""},
		{"foreign", []string{"diff", held, foreign}, 2, "", "not a tenantcheck report"},
		{"corrupt", []string{"diff", corrupt, held}, 2, "", "corrupt.json"},
		{"one file", []string{"diff", held}, 2, "", "two reports"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Run(context.Background(), Streams{Out: &out, Err: &errb}, tt.args)
			assert.Equal(t, tt.code, code, "stderr: %s", errb.String())
			assert.Contains(t, out.String(), tt.out)
			assert.Contains(t, errb.String(), tt.er)
		})
	}
}

func TestExitCodeAfterTheRun(t *testing.T) {
	mk := func(j model.Judgement) *model.Report {
		r := model.Check{ID: "network/cross-tenant-tcp", Layer: model.LayerNetwork, Name: "x", Expected: model.ExpectReach(model.ReachBlocked)}.Result(j)
		return model.NewReport(model.Metadata{}, []model.Result{r}, nil)
	}
	cleanup := errors.New("namespaces still present after 3m0s: tc-x-tenant-a-prod")
	for _, tc := range []struct {
		name      string
		rep       *model.Report
		regressed int
		err       error
		want      int
	}{
		{"held", mk(model.Held("")), 0, nil, ExitHeld},
		{"held, then cleanup failed", mk(model.Held("")), 0, cleanup, ExitIncomplete},
		{"broken, then cleanup failed: the finding wins", mk(model.Broken("open")), 0, cleanup, ExitBroken},
		{"held but regressed since the previous run", mk(model.Held("")), 1, nil, ExitBroken},
		{"nothing verified", mk(model.Skipped("no Flux")), 0, nil, ExitIncomplete},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := exitCode(tc.rep, tc.regressed, tc.err)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.err, err, "the error is still printed")
		})
	}
}

// kubectl's habit: global flags before the command reach the command.
func TestGlobalFlagsBeforeTheCommand(t *testing.T) {
	for _, tc := range []struct {
		in, want []string
		err      string
	}{
		{in: []string{"audit", "--spec", "s.yaml"}, want: []string{"audit", "--spec", "s.yaml"}},
		{in: []string{"--context", "prod", "audit", "-o", "json"}, want: []string{"audit", "--context=prod", "-o", "json"}},
		{in: []string{"--kubeconfig=/k", "--context=c", "run"}, want: []string{"run", "--kubeconfig=/k", "--context=c"}},
		{in: []string{"--help"}, want: []string{"--help"}},
		{in: []string{"-n", "team-a", "audit"}, want: []string{"audit", "--n=team-a"}},
		{in: []string{"--spec", "s.yaml", "audit"}, err: "only --kubeconfig, --context and -n may come first"},
		{in: []string{"--context"}, err: "needs a value"},
	} {
		got, err := hoistGlobals(tc.in)
		if tc.err != "" {
			assert.ErrorContains(t, err, tc.err, "%v", tc.in)
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, tc.want, got)
	}
}

func TestPluginUsageSaysKubectl(t *testing.T) {
	defer func(p string) { Program = p }(Program)
	Program = "kubectl-tenantcheck"
	var out bytes.Buffer
	assert.Equal(t, ExitHeld, Run(context.Background(), Streams{Out: &out, Err: &out}, []string{"--help"}))
	assert.Contains(t, out.String(), "  kubectl tenantcheck audit [flags]")
	assert.NotContains(t, out.String(), "\n  tenantcheck ")
}

// kubectl's -n: an audit of only the namespaces named, by their tenant label.
func TestDiscoverOnlyTheNamespacesNamed(t *testing.T) {
	label := spec.DefaultTenantLabel
	ns := func(name, tenant string) *corev1.Namespace {
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}}}
		if tenant != "" {
			n.Labels[label] = tenant
		}
		return n
	}
	c := &kube.Client{Clientset: fake.NewSimpleClientset(ns("a-prod", "a"), ns("a-dev", "a"), ns("b-prod", "b"), ns("c-prod", "c"), ns("plain", ""))}
	ctx := context.Background()

	all, err := discover(ctx, c, label, nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b", "c"}, all.TenantNames())

	f, err := parseRun([]string{"-n", "a-prod", "--namespace", "c-prod"}, &strings.Builder{}, model.ModeAudit)
	require.NoError(t, err)
	some, err := discover(ctx, c, label, f.namespaces)
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "c"}, some.TenantNames())
	assert.Equal(t, []string{"a-prod", "c-prod"}, some.TenantNamespaces(), "a-dev was not named")

	_, err = discover(ctx, c, label, []string{"a-prod", "plain"})
	assert.ErrorContains(t, err, "-n plain: no such namespace carries the label "+label)
	_, err = discover(ctx, c, label, []string{"a-prod", "a-dev"})
	assert.ErrorContains(t, err, "only one tenant (a)")

	_, err = parseRun([]string{"-n", "a-prod", "--spec", "s.yaml"}, &strings.Builder{}, model.ModeAudit)
	assert.ErrorContains(t, err, "-n and --spec")
}
