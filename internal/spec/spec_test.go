package spec

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// TestLoadTestdata loads every testdata file: valid-*.yaml must load,
// invalid-*.yaml must fail with the substring on their "# want: " line.
func TestLoadTestdata(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			s, err := Load(path)
			switch {
			case strings.HasPrefix(name, "valid-"):
				require.NoError(t, err)
				assert.NoError(t, s.Validate())
			case strings.HasPrefix(name, "invalid-"):
				want := wantLine(t, path)
				assert.ErrorContains(t, err, want)
				assert.ErrorContains(t, err, path, "the error names the file")
			default:
				t.Errorf("testdata file %s is neither valid-* nor invalid-*", name)
			}
		})
	}
}

func wantLine(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	first, _, _ := strings.Cut(string(data), "\n")
	want, ok := strings.CutPrefix(first, "# want: ")
	require.True(t, ok, "%s must start with a '# want: <error substring>' line", path)
	return want
}

func TestDefault(t *testing.T) {
	def := Default()
	require.NoError(t, def.Validate())

	guide, err := Load(filepath.Join("testdata", "valid-guide.yaml"))
	require.NoError(t, err)
	assert.Equal(t, guide, def, "Default is the guide baseline spelled out in valid-guide.yaml")
}

func TestParseDefaults(t *testing.T) {
	s, err := Load(filepath.Join("testdata", "valid-minimal.yaml"))
	require.NoError(t, err)
	assert.Equal(t, DefaultTenantLabel, s.TenantLabel)
	assert.Equal(t, DNS{Namespace: "kube-system", PodLabels: map[string]string{"k8s-app": "kube-dns"},
		Service: "kube-dns"}, s.DNS)
	assert.Empty(t, s.Shared)
}

func TestValidateReportsEveryProblem(t *testing.T) {
	s := Default()
	s.Tenants[0].Namespaces[0] = "Tenant_A"
	s.Shared[0].AllowedTo = append(s.Shared[0].AllowedTo, "nobody")
	s.DNS.Service = "1dns"
	err := s.Validate()
	require.Error(t, err)
	for _, want := range []string{
		`tenants[0].namespaces[0]: "Tenant_A" is not a valid namespace name (RFC 1123 label)`,
		`shared[0].allowedTo[2]: "nobody" is not a tenant name`,
		`dns.service: "1dns" is not a valid service name (RFC 1035 label)`,
	} {
		assert.ErrorContains(t, err, want)
	}
}

func TestDigest(t *testing.T) {
	a, err := Default().Digest()
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(a, "sha256:"), a)
	assert.Len(t, a, len("sha256:")+64)

	again, err := Default().Digest()
	require.NoError(t, err)
	assert.Equal(t, a, again, "digest is stable")

	changed := Default()
	changed.Shared = nil
	b, err := changed.Digest()
	require.NoError(t, err)
	assert.NotEqual(t, a, b)
}

func TestAccessors(t *testing.T) {
	s, err := Load(filepath.Join("testdata", "valid-multi.yaml"))
	require.NoError(t, err)
	assert.Equal(t, []string{"payments", "search", "ml"}, s.TenantNames())
	assert.Equal(t, []string{"payments-prod", "payments-staging", "search-prod", "ml-batch"}, s.TenantNamespaces())
	assert.Equal(t, []string{"ingress-nginx", "monitoring"}, s.SharedFor("search"))
	assert.Equal(t, []string{"monitoring"}, s.SharedFor("ml"))

	tenant, ok := s.TenantOf("payments-staging")
	assert.True(t, ok)
	assert.Equal(t, "payments", tenant)
	_, ok = s.TenantOf("monitoring")
	assert.False(t, ok)
}

func TestSharedServices(t *testing.T) {
	s, err := Load(filepath.Join("testdata", "valid-shared-services.yaml"))
	require.NoError(t, err)
	assert.Equal(t, []string{"vault", "registry-proxy"}, s.SharedServicesOf("tenant-a"))
	assert.Equal(t, []string{"registry-proxy"}, s.SharedServicesOf("tenant-b"))
	assert.Equal(t, []string{"ingress-shared"}, s.SharedFor("tenant-b"))
	assert.Equal(t, []string{"8080/TCP", "9090/TCP"}, s.Tenants[1].NormalizedIngressPorts())
	assert.Empty(t, s.Tenants[0].NormalizedIngressPorts())
	run, err := s.WithRunSuffix("x7k2p")
	require.NoError(t, err)
	assert.Equal(t, []string{"tenant-a"}, run.Shared[1].AllowedFrom, "the run keeps who may call what")
}

func TestWithRunSuffix(t *testing.T) {
	orig := Default()
	run, err := orig.WithRunSuffix("x7k2p")
	require.NoError(t, err)
	assert.Equal(t, []string{"tc-x7k2p-tenant-a-prod", "tc-x7k2p-tenant-b-prod"}, run.TenantNamespaces())
	assert.Equal(t, "tc-x7k2p-ingress-shared", run.Shared[0].Namespace)
	assert.Equal(t, orig.TenantNames(), run.TenantNames())
	assert.NoError(t, run.Validate())
	assert.Equal(t, Default(), orig, "the original spec is not modified")

	_, err = orig.WithRunSuffix("Bad_Suffix")
	assert.ErrorContains(t, err, `run suffix "Bad_Suffix"`)
	_, err = orig.WithRunSuffix(strings.Repeat("a", 17))
	assert.Error(t, err)
}

func TestRunNamespaceLength(t *testing.T) {
	long1 := strings.Repeat("n", 60) + "-one"
	long2 := strings.Repeat("n", 60) + "-two"
	a, b := RunNamespace("abcdef", long1), RunNamespace("abcdef", long2)
	assert.LessOrEqual(t, len(a), 63)
	assert.LessOrEqual(t, len(b), 63)
	assert.NotEqual(t, a, b, "truncated names stay distinct")
	assert.True(t, strings.HasPrefix(a, "tc-abcdef-"), a)

	dashy := RunNamespace("abcdef", strings.Repeat("n", 45)+"-"+strings.Repeat("m", 20))
	assert.NotContains(t, dashy, "--", dashy)
	assert.LessOrEqual(t, len(dashy), 63)
}

func TestPodSecurityOf(t *testing.T) {
	s, err := Load(filepath.Join("testdata", "valid-podsecurity.yaml"))
	require.NoError(t, err)
	assert.Equal(t, PodSecurity{Level: "baseline", EnforcedBy: []string{"ValidatingAdmissionPolicy/tenant-pod-security.platform.example"}}, s.Tenants[0].PodSecurityOf())
	assert.Equal(t, "restricted", s.Tenants[1].PodSecurityOf().Level, "the guide's level unless told")
	assert.Equal(t, PodSecurity{Level: "restricted", EnforcedBy: []string{EnforcerPSA}}, Default().Tenants[0].PodSecurityOf())
	c := s.DeepCopy()
	c.Tenants[0].PodSecurity.EnforcedBy[0] = "changed"
	assert.NotEqual(t, "changed", s.Tenants[0].PodSecurity.EnforcedBy[0], "DeepCopy shares nothing")
}

// A spec written out as YAML (as the suites hand it to the CLI) reads back
// the same, through the strict parser.
func TestSpecRoundTripsThroughYAML(t *testing.T) {
	s, err := Load(filepath.Join("testdata", "valid-shared-services.yaml"))
	require.NoError(t, err)
	data, err := yaml.Marshal(s)
	require.NoError(t, err)
	back, err := Parse(data)
	require.NoError(t, err, "%s", data)
	assert.Equal(t, s, back)
}
