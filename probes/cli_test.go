package probes

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type mainResult struct {
	code           int
	stdout, stderr string
}

func runMain(t *testing.T, stdin string, args ...string) mainResult {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return mainResult{code: code, stdout: out.String(), stderr: errb.String()}
}

func TestMainConnect(t *testing.T) {
	a := startAgent(t)
	closed := freePort(t)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     Outcome
	}{
		{"tcp connected", []string{"--port", strconv.Itoa(a.Port)}, 0, Connected},
		{"udp connected", []string{"--port", strconv.Itoa(a.Port), "--protocol", "udp"}, 0, Connected},
		{"dns connected", []string{"--port", strconv.Itoa(a.DNSPort), "--mode", "dns", "--protocol", "tcp"}, 0, Connected},
		{"dns with a query name", []string{"--port", strconv.Itoa(a.DNSPort), "--mode", "dns", "--protocol", "udp", "--query", "kubernetes.default"}, 0, Connected},
		{"tcp refused", []string{"--port", strconv.Itoa(closed)}, 1, Refused},
		{"udp refused", []string{"--port", strconv.Itoa(closed), "--protocol", "udp"}, 1, Refused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"connect", "--host", loopback, "--timeout", "500ms"}, tt.args...)
			res := runMain(t, "", args...)
			assert.Equal(t, tt.wantCode, res.code, "stderr: %s", res.stderr)
			assert.Empty(t, res.stderr)
			var r Result
			require.NoError(t, json.Unmarshal([]byte(res.stdout), &r), "stdout is one JSON result: %q", res.stdout)
			assert.Equal(t, tt.want, r.Outcome, r.Detail)
			assert.Equal(t, loopback, r.Target.Host)
			assert.Equal(t, 500, r.Target.TimeoutMs, "--timeout becomes the target's timeout")
		})
	}
}

func TestMainBadInput(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		stdin   string
		wantErr string
	}{
		{"no command", nil, "", "usage: tenantcheck-probe"},
		{"unknown command", []string{"probe"}, "", `unknown command "probe"`},
		{"connect unknown flag", []string{"connect", "--bogus"}, "", "flag provided but not defined: -bogus"},
		{"connect usage goes to the given stderr", []string{"connect", "--bogus"}, "", "Usage of connect"},
		{"connect bad port value", []string{"connect", "--host", loopback, "--port", "eighty"}, "", `invalid value "eighty" for flag -port`},
		{"connect without host", []string{"connect"}, "", "targets[0]: host is empty"},
		{"connect bad protocol", []string{"connect", "--host", loopback, "--protocol", "sctp"}, "", `targets[0]: protocol "sctp"`},
		{"connect bad mode", []string{"connect", "--host", loopback, "--mode", "ping"}, "", `targets[0]: mode "ping"`},
		{"connect port out of range", []string{"connect", "--host", loopback, "--port", "70000"}, "", "targets[0]: port 70000 out of range"},
		{"serve unknown flag", []string{"serve", "--bogus"}, "", "flag provided but not defined: -bogus"},
		{"serve usage goes to the given stderr", []string{"serve", "--bogus"}, "", "-dns-port"},
		{"batch unknown field", []string{"batch"}, `{"targets":[],"retries":3}`, `unknown field "retries"`},
		{"batch unknown target field", []string{"batch"}, `{"targets":[{"host":"127.0.0.1","port":1,"protocol":"tcp","colour":"red"}]}`, `unknown field "colour"`},
		{"batch not json", []string{"batch"}, `targets: []`, "read batch from stdin"},
		{"batch empty stdin", []string{"batch"}, ``, "read batch from stdin"},
		{"batch invalid target", []string{"batch"}, `{"targets":[{"host":"127.0.0.1","port":1,"protocol":"tcp"},{"host":"","port":1,"protocol":"tcp"}]}`, "targets[1]: host is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runMain(t, tt.stdin, tt.args...)
			assert.Equal(t, 2, res.code)
			assert.Contains(t, res.stderr, tt.wantErr)
			assert.Empty(t, res.stdout, "nothing on stdout when the input is bad")
		})
	}
}

func TestMainBatch(t *testing.T) {
	a := startAgent(t)
	closed := freePort(t)
	in, err := json.Marshal(Batch{TimeoutMs: 500, Targets: []Target{
		{ID: "up", Host: loopback, Port: a.Port, Protocol: TCP},
		{ID: "down", Host: loopback, Port: closed, Protocol: TCP},
		{ID: "dns", Host: loopback, Port: a.DNSPort, Protocol: UDP, Mode: DNS},
	}})
	require.NoError(t, err)

	res := runMain(t, string(in), "batch")
	require.Equal(t, 0, res.code, "a batch exits 0 whatever its outcomes; stderr: %s", res.stderr)
	dec := json.NewDecoder(strings.NewReader(res.stdout))
	dec.DisallowUnknownFields()
	var ans Answer
	require.NoError(t, dec.Decode(&ans))
	require.Len(t, ans.Results, 3)
	got := map[string]Outcome{}
	for _, r := range ans.Results {
		got[r.Target.ID] = r.Outcome
	}
	assert.Equal(t, map[string]Outcome{"up": Connected, "down": Refused, "dns": Connected}, got)
	assert.Equal(t, []string{"up", "down", "dns"}, []string{ans.Results[0].Target.ID, ans.Results[1].Target.ID, ans.Results[2].Target.ID})
}

func TestBatchValidate(t *testing.T) {
	good := Target{Host: loopback, Port: 8080, Protocol: TCP}
	with := func(f func(*Target)) Target {
		t := good
		f(&t)
		return t
	}
	tests := []struct {
		name    string
		targets []Target
		wantErr []string // every message expected; nil: valid
	}{
		{"empty batch", nil, nil},
		{"good targets", []Target{good, with(func(t *Target) { t.Protocol, t.Mode = UDP, DNS }), with(func(t *Target) { t.Mode = Connect })}, nil},
		{"port bounds", []Target{with(func(t *Target) { t.Port = 1 }), with(func(t *Target) { t.Port = 65535 })}, nil},
		{"empty host at 1", []Target{good, with(func(t *Target) { t.Host = "" })}, []string{"targets[1]: host is empty"}},
		{"port zero at 0", []Target{with(func(t *Target) { t.Port = 0 })}, []string{"targets[0]: port 0 out of range"}},
		{"port too big at 2", []Target{good, good, with(func(t *Target) { t.Port = 65536 })}, []string{"targets[2]: port 65536 out of range"}},
		{"protocol", []Target{with(func(t *Target) { t.Protocol = "TCP" })}, []string{`targets[0]: protocol "TCP" (want tcp or udp)`}},
		{"mode", []Target{good, with(func(t *Target) { t.Mode = "http" })}, []string{`targets[1]: mode "http" (want connect or dns)`}},
		{"every problem is named", []Target{
			with(func(t *Target) { t.Host = "" }),
			good,
			with(func(t *Target) { t.Port, t.Protocol = -1, "" }),
		}, []string{"targets[0]: host is empty", "targets[2]: port -1 out of range", `targets[2]: protocol ""`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Batch{Targets: tt.targets}.Validate()
			if tt.wantErr == nil {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tt.wantErr {
				assert.Contains(t, err.Error(), w)
			}
			for i, tg := range tt.targets {
				if tg == good {
					assert.NotContains(t, err.Error(), "targets["+strconv.Itoa(i)+"]", "a good target is not named")
				}
			}
		})
	}
}
