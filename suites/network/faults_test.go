package network

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	tcnet "github.com/tenantcheck/tenantcheck/internal/layers/network"
	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/internal/runner"
	"github.com/tenantcheck/tenantcheck/suites/suitekit"
)

// Fault injection on the node: these features change the network inside a
// probe pod's network namespace or the cluster's policies while a run
// probes, so they need the local cluster (root on its only node).

// onProgress is a progress writer that calls hook with every line the
// runner prints, before the runner goes on: a fault can be injected at an
// exact point of the run (after the probe pods are ready, when probing
// starts).
type onProgress struct {
	t    *testing.T
	hook func(line string)
}

func (w onProgress) Write(p []byte) (int, error) {
	line := strings.TrimRight(string(p), "\n")
	w.t.Log(line)
	w.hook(line)
	return len(p), nil
}

// podPID is a process of the pod's containers on this node, found by the
// pod's UID in its cgroup path (cgroupfs or systemd spelling).
func podPID(t *testing.T, uid string) int {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*/cgroup")
	for _, f := range procs {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		s := string(b)
		if strings.Contains(s, "pod"+uid) || strings.Contains(s, "pod"+strings.ReplaceAll(uid, "-", "_")) {
			var pid int
			if _, err := fmt.Sscanf(f, "/proc/%d/cgroup", &pid); err == nil {
				comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
				if strings.TrimSpace(string(comm)) == "tenantcheck-pro" { // the agent, not the pause process
					return pid
				}
			}
		}
	}
	t.Fatalf("no process of pod %s on this node", uid)
	return 0
}

// inPodNet runs iptables in the pod's network namespace.
func inPodNet(t *testing.T, pid int, args ...string) {
	t.Helper()
	cmd := exec.Command("nsenter", append([]string{"-t", fmt.Sprint(pid), "-n", "iptables", "-w"}, args...)...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "nsenter iptables %v: %s", args, out)
}

// listenInPodNet opens a TCP listener inside the pod's network namespace
// (the socket stays there once the thread goes back).
func listenInPodNet(t *testing.T, pid int, addr string) net.Listener {
	t.Helper()
	var l net.Listener
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		target, e := os.Open(fmt.Sprintf("/proc/%d/ns/net", pid))
		if e != nil {
			err = e
			return
		}
		defer target.Close()
		if err = unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			return
		}
		l, err = net.Listen("tcp", addr)
	}()
	<-done
	require.NoError(t, err, "listen in the pod's network namespace")
	t.Cleanup(func() { l.Close() })
	return l
}

func podUID(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, name string) (string, string) {
	t.Helper()
	p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	require.NoError(t, err)
	return string(p.UID), p.Status.PodIP
}

// A must-block path open only for a moment, during the first round of
// probes, and closed again while the run goes on: the connection seen once
// is a leak (Broken, the connected attempt in the evidence), not Held on
// the strength of later attempts.
func TestMomentaryLeakIsBroken(t *testing.T) {
	f := features.New("a leak seen once is a leak").
		WithLabel("layer", "network").WithLabel("check", "other-namespace-ingress-denied").
		Assess("tenant-b open to every namespace during round 1 only", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			suitekit.NeedLocalCluster(t, "needs the local cluster")
			cs := suitekit.Client(ctx, t).Clientset
			var ns string
			var closed sync.WaitGroup
			var closedAt time.Time
			opts := suitekit.Options(t)
			opts.AfterProvision = func(ctx context.Context, cs kubernetes.Interface, run *runner.Run) error {
				ns = run.Namespace("tenant-b-prod")
				p := &networkingv1.NetworkPolicy{
					ObjectMeta: metav1.ObjectMeta{Name: "allow-from-everywhere", Namespace: ns, Labels: run.Labels},
					Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
						Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{}}}}}},
				}
				_, err := cs.NetworkingV1().NetworkPolicies(ns).Create(ctx, p, metav1.CreateOptions{})
				return err
			}
			opts.Progress = onProgress{t: t, hook: func(line string) {
				if !strings.Contains(line, "network: probing") {
					return
				}
				closed.Add(1)
				go func() { // close the opening once round 1 has sent its connects
					defer closed.Done()
					time.Sleep(1500 * time.Millisecond)
					assert.NoError(t, cs.NetworkingV1().NetworkPolicies(ns).Delete(context.Background(), "allow-from-everywhere", metav1.DeleteOptions{}))
					closedAt = time.Now()
				}()
			}}
			rep := suitekit.Execute(ctx, t, opts)
			closed.Wait()
			require.False(t, closedAt.IsZero(), "the opening was closed during the run")
			assert.True(t, closedAt.Before(rep.Metadata.End), "the opening was closed before the run ended")
			r := resultOf(rep, "network/other-namespace-ingress-denied")
			assert.Equal(t, model.VerdictBroken, r.Verdict, r.Reason)
			assert.Contains(t, r.Reason, "connected in round 1")
			require.NotEmpty(t, r.Evidence)
			assert.Equal(t, model.VerdictBroken, r.Evidence[0].Verdict)
			assert.Equal(t, model.OutcomeConnected, r.Evidence[0].Outcome, "the connected attempt is the evidence")
			assert.Contains(t, r.Evidence[0].Raw, "round 1")
			return ctx
		}).Feature()
	testenv.Test(t, f)
}

// A target that nobody can reach, its own namespace included, proves no
// block: every check aimed at it is an Error, never Held.
func TestBlackHoledTargetIsError(t *testing.T) {
	f := features.New("a black-holed target is an Error").
		WithLabel("layer", "network").WithLabel("check", "cross-tenant-tcp").
		Assess("tenant-b's server drops everything", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			suitekit.NeedLocalCluster(t, "needs the local cluster")
			cs := suitekit.Client(ctx, t).Clientset
			var ns string
			opts := suitekit.Options(t)
			opts.AfterProvision = func(_ context.Context, _ kubernetes.Interface, run *runner.Run) error {
				ns = run.Namespace("tenant-b-prod")
				return nil
			}
			opts.Progress = onProgress{t: t, hook: func(line string) {
				if !strings.Contains(line, "network: probe pods ready") {
					return
				}
				uid, _ := podUID(ctx, t, cs, ns, tcnet.ServerPod)
				pid := podPID(t, uid)
				for _, proto := range []string{"tcp", "udp"} {
					inPodNet(t, pid, "-I", "INPUT", "-p", proto, "--dport", "8080", "-j", "DROP")
				}
			}}
			rep := suitekit.Execute(ctx, t, opts)
			for _, id := range []string{"network/cross-tenant-tcp", "network/cross-tenant-udp", "network/other-namespace-ingress-denied", "network/same-namespace"} {
				r := resultOf(rep, id)
				assert.Equal(t, model.VerdictError, r.Verdict, "%s: %s", id, r.Reason)
			}
			assert.Contains(t, resultOf(rep, "network/cross-tenant-tcp").Reason, tcnet.ReasonControlUnreachable)
			assert.Equal(t, 2, model.ExitCode(rep), "nothing proven is exit 2, not 0")
			return ctx
		}).Feature()
	testenv.Test(t, f)
}

// A local interceptor in tenant-a's client pod (a REDIRECT of its outbound
// connects to tenant-b's server to a listener that accepts and closes, as
// a sidecar proxy does) is reported intercepted: not Allowed, not Blocked.
func TestInterceptedConnectIsReported(t *testing.T) {
	f := features.New("a sidecar-like interceptor is reported").
		WithLabel("layer", "network").WithLabel("check", "cross-tenant-tcp").
		Assess("tenant-a's outbound TCP to tenant-b is redirected locally", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			suitekit.NeedLocalCluster(t, "needs the local cluster")
			cs := suitekit.Client(ctx, t).Clientset
			var nsA, nsB string
			opts := suitekit.Options(t)
			opts.AfterProvision = func(_ context.Context, _ kubernetes.Interface, run *runner.Run) error {
				nsA, nsB = run.Namespace("tenant-a-prod"), run.Namespace("tenant-b-prod")
				return nil
			}
			opts.Progress = onProgress{t: t, hook: func(line string) {
				if !strings.Contains(line, "network: probe pods ready") {
					return
				}
				uid, _ := podUID(ctx, t, cs, nsA, tcnet.ClientPod)
				_, serverIP := podUID(ctx, t, cs, nsB, tcnet.ServerPod)
				pid := podPID(t, uid)
				l := listenInPodNet(t, pid, "127.0.0.1:15001")
				go func() {
					for {
						c, err := l.Accept()
						if err != nil {
							return
						}
						c.Close() // a handshake, and nothing of the target
					}
				}()
				inPodNet(t, pid, "-t", "nat", "-I", "OUTPUT", "-p", "tcp", "-d", serverIP, "--dport", "8080", "-j", "REDIRECT", "--to-ports", "15001")
			}}
			rep := suitekit.Execute(ctx, t, opts)
			r := resultOf(rep, "network/cross-tenant-tcp")
			assert.Equal(t, model.VerdictError, r.Verdict, r.Reason)
			assert.Contains(t, r.Reason, "intercepted")
			var intercepted bool
			for _, ev := range r.Evidence {
				if ev.Outcome == model.OutcomeIntercepted {
					intercepted = true
					assert.True(t, bytes.Contains([]byte(ev.Repro), []byte("--nonce")), "the repro checks the greeting too: %s", ev.Repro)
				}
			}
			assert.True(t, intercepted, "the intercepted attempt is in the evidence")
			return ctx
		}).Feature()
	testenv.Test(t, f)
}

func resultOf(rep *model.Report, id string) model.Result {
	for _, r := range rep.Results {
		if r.CheckID == id {
			return r
		}
	}
	return model.Result{CheckID: id, Judgement: model.Errored("no result")}
}
