package kube

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
)

// Exec runs cmd in a container and returns its stdout and stderr. A non-nil
// error means the command could not be run or exited non-zero; the caller
// decides whether its output is still usable.
func (c *Client) Exec(ctx context.Context, ns, pod, container string, cmd []string, stdin []byte) (string, string, error) {
	var out, errb bytes.Buffer
	err := c.ExecStream(ctx, ns, pod, container, cmd, stdin, &out, &errb)
	return out.String(), errb.String(), err
}

// ExecStream runs cmd in a container, writing its output to stdout and
// stderr as it comes (a watch reads a line per round while the command
// runs). It returns when the command ends or ctx does.
func (c *Client) ExecStream(ctx context.Context, ns, pod, container string, cmd []string, stdin []byte, stdout, stderr io.Writer) error {
	req := c.Clientset.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{
			Container: container, Command: cmd, Stdin: stdin != nil, Stdout: true, Stderr: true,
		}, scheme.ParameterCodec)
	ws, err := remotecommand.NewWebSocketExecutor(c.Config, "GET", req.URL().String())
	if err != nil {
		return fmt.Errorf("exec in %s/%s: %w", ns, pod, err)
	}
	spdy, err := remotecommand.NewSPDYExecutor(c.Config, "POST", req.URL())
	if err != nil {
		return fmt.Errorf("exec in %s/%s: %w", ns, pod, err)
	}
	exec, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return fmt.Errorf("exec in %s/%s: %w", ns, pod, err)
	}
	opts := remotecommand.StreamOptions{Stdout: stdout, Stderr: stderr}
	if stdin != nil {
		opts.Stdin = bytes.NewReader(stdin)
	}
	if err := exec.StreamWithContext(ctx, opts); err != nil {
		return fmt.Errorf("exec %s in %s/%s: %w", cmd[0], ns, pod, err)
	}
	return nil
}

// ReproExec is the kubectl command a person pastes to run cmd in the pod.
func (c *Client) ReproExec(ns, pod, container string, cmd []string) string {
	var b strings.Builder
	b.WriteString(c.Kubectl())
	fmt.Fprintf(&b, " exec -n %s %s -c %s --", ns, pod, container)
	for _, a := range cmd {
		b.WriteString(" " + a)
	}
	return b.String()
}

// ReproDryRun is the command that submits obj again with server dry-run,
// to the cluster that was checked.
func (c *Client) ReproDryRun(obj any) string {
	b, _ := json.Marshal(obj)
	return fmt.Sprintf("echo '%s' | %s create --dry-run=server -f -", b, c.Kubectl())
}

// ReproKubectl is kubectl, aimed at the cluster that was checked, with args.
func (c *Client) ReproKubectl(args string) string { return c.Kubectl() + " " + args }
