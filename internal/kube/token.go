package kube

import (
	"context"
	"fmt"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// AsServiceAccount returns a client that authenticates with a real,
// short-lived token of the service account (TokenRequest), not with
// impersonation: the API server then judges the tenant exactly as it would
// judge the tenant's own workloads. The token is never printed.
func (c *Client) AsServiceAccount(ctx context.Context, ns, sa string, ttl time.Duration) (kubernetes.Interface, *rest.Config, error) {
	secs := int64(ttl.Seconds())
	if secs < 600 {
		secs = 600 // the API server's minimum
	}
	tr, err := c.Clientset.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa,
		&authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: &secs}}, metav1.CreateOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("request a token for %s/%s: %w", ns, sa, err)
	}
	cfg := rest.AnonymousClientConfig(c.Config)
	cfg.BearerToken = tr.Status.Token
	cfg.UserAgent = "tenantcheck (as " + ns + "/" + sa + ")"
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("client for %s/%s: %w", ns, sa, err)
	}
	return cs, cfg, nil
}
