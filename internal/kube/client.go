// Package kube is tenantcheck's only door to the cluster: clients from a
// kubeconfig loaded as kubectl loads it, exec into probe pods, permission
// preflight, and errors turned into one line that says what to fix.
package kube

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Client bundles what the runner needs to talk to one cluster.
type Client struct {
	Config    *rest.Config
	Clientset kubernetes.Interface
	// Context is the kubeconfig context in use ("in-cluster" inside a pod).
	Context string
	// Kubeconfig is the kubeconfig the config came from (the flag, else
	// KUBECONFIG, else ~/.kube/config), for repro commands; empty in-cluster.
	Kubeconfig string
}

// Options select the cluster: an explicit kubeconfig path and context, else
// KUBECONFIG and ~/.kube/config, else the in-cluster service account.
type Options struct {
	Kubeconfig string
	Context    string
}

// ClientQPS and ClientBurst are the client-side rate limit of the runner's
// client and of every tenant identity's.
const (
	ClientQPS   = 500
	ClientBurst = 1000
)

// Load builds a client the way kubectl does, and fails with one line naming
// the file or context to fix.
func Load(opts Options) (*Client, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = opts.Kubeconfig
	overrides := &clientcmd.ConfigOverrides{CurrentContext: opts.Context}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	cfg, err := cc.ClientConfig()
	ctxName := opts.Context
	if err != nil {
		if opts.Kubeconfig == "" && opts.Context == "" && os.Getenv("KUBECONFIG") == "" && clientcmd.IsEmptyConfig(err) {
			if ic, ierr := rest.InClusterConfig(); ierr == nil {
				cfg, err, ctxName = ic, nil, "in-cluster"
			}
		}
	}
	if err != nil {
		return nil, explainConfigError(err, opts)
	}
	if ctxName == "" {
		raw, rerr := cc.RawConfig()
		if rerr == nil {
			ctxName = raw.CurrentContext
		}
	}
	// Client-side throttling was the floor of the API layers at 20 tenants
	// (50/s: 480 dry-runs took 4.8 s whatever the concurrency). The API
	// server protects itself (API Priority and Fairness answers 429, which
	// client-go retries); these bound only a runaway loop. Every tenant
	// identity's client inherits them.
	cfg.QPS, cfg.Burst = ClientQPS, ClientBurst
	// The API server's warnings ("would violate PodSecurity") are expected
	// answers to what the checks try; they are evidence, not log noise.
	cfg.WarningHandler = rest.NoWarnings{}
	cfg.UserAgent = "tenantcheck"
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	path := opts.Kubeconfig
	if path == "" && ctxName != "in-cluster" {
		path = loadedFrom(rules)
	}
	return &Client{Config: cfg, Clientset: cs, Context: ctxName, Kubeconfig: path}, nil
}

// loadedFrom names the kubeconfig kubectl would read without a flag: the
// files of KUBECONFIG (joined as KUBECONFIG joins them), else the default
// file when it exists.
func loadedFrom(rules *clientcmd.ClientConfigLoadingRules) string {
	var existing []string
	for _, f := range rules.GetLoadingPrecedence() {
		if _, err := os.Stat(f); err == nil {
			existing = append(existing, f)
		}
	}
	return strings.Join(existing, string(os.PathListSeparator))
}

// Kubectl is "kubectl" with the kubeconfig and context this client talks
// to, so that every repro command in a report reaches the cluster that was
// checked and not the reader's current one. A KUBECONFIG of several files
// becomes an environment prefix, since --kubeconfig takes one file.
func (c *Client) Kubectl() string {
	if c == nil {
		return "kubectl"
	}
	var b strings.Builder
	switch {
	case strings.ContainsRune(c.Kubeconfig, os.PathListSeparator):
		fmt.Fprintf(&b, "KUBECONFIG=%s kubectl", c.Kubeconfig)
	case c.Kubeconfig != "":
		fmt.Fprintf(&b, "kubectl --kubeconfig %s", c.Kubeconfig)
	default:
		b.WriteString("kubectl")
	}
	if c.Context != "" && c.Context != "in-cluster" {
		fmt.Fprintf(&b, " --context %s", c.Context)
	}
	return b.String()
}

func explainConfigError(err error, opts Options) error {
	msg := err.Error()
	switch {
	case clientcmd.IsEmptyConfig(err):
		return errors.New("no kubeconfig found: set --kubeconfig or KUBECONFIG, or run inside a cluster")
	case strings.Contains(msg, "context was not found") || strings.Contains(msg, "does not exist"):
		if opts.Context != "" {
			return fmt.Errorf("kubeconfig: context %q not found", opts.Context)
		}
	case os.IsNotExist(errors.Unwrap(err)) || strings.Contains(msg, "no such file"):
		return fmt.Errorf("kubeconfig %s: file not found", opts.Kubeconfig)
	}
	return fmt.Errorf("kubeconfig: %s", firstLine(msg))
}

// ServerVersion asks the API server for its version; the error says plainly
// whether the server could not be reached or refused our credentials.
func (c *Client) ServerVersion(ctx context.Context) (string, error) {
	v, err := c.Clientset.Discovery().ServerVersion()
	if err != nil {
		return "", Explain(err, "reach the API server at "+c.Config.Host)
	}
	return v.GitVersion, nil
}

// Explain turns an API error into one line that says what to fix.
func Explain(err error, doing string) error {
	if err == nil {
		return nil
	}
	var ue *url.Error
	var ne net.Error
	switch {
	case errors.As(err, &ue) || errors.As(err, &ne):
		return fmt.Errorf("%s: cluster unreachable: %s", doing, firstLine(err.Error()))
	case isUnauthorized(err):
		return fmt.Errorf("%s: the API server rejected the credentials (401): check the kubeconfig's user", doing)
	}
	return fmt.Errorf("%s: %s", doing, firstLine(err.Error()))
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
