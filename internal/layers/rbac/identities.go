package rbac

import (
	"context"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/tenantcheck/tenantcheck/internal/kube"
	"github.com/tenantcheck/tenantcheck/internal/provision"
)

// DefaultServiceAccount is the account every namespace gets, and every pod
// runs as unless it names another.
const DefaultServiceAccount = "default"

// tokenTTL is how long a check token lives: the API server's minimum.
const tokenTTL = 10 * time.Minute

// serviceAccountWait bounds the wait for a fresh namespace's default
// service account, which its controller creates shortly after the namespace.
const serviceAccountWait = 30 * time.Second

// Identity is one tenant service account the checks act as, with a client
// that authenticates with a real TokenRequest token: the API server judges
// it exactly as it would judge the tenant's own workloads. The token lives
// only inside Client and Config and is never printed.
type Identity struct {
	Tenant         string
	Namespace      string
	ServiceAccount string
	// Targets are the first namespaces of every other tenant.
	Targets []string
	Client  kubernetes.Interface
	Config  *rest.Config
	// Err, when set, is why no token could be had: every request of this
	// identity is then an Error with this reason, never a Held.
	Err string
}

// String is "<namespace>/<service account>", as evidence names it.
func (id Identity) String() string { return id.Namespace + "/" + id.ServiceAccount }

// User is the identity's user name as the API server sees it.
func (id Identity) User() string {
	return "system:serviceaccount:" + id.Namespace + ":" + id.ServiceAccount
}

// planIdentities lists, without touching the cluster, the identities of
// every tenant namespace (the accounts the tenant acts as there: default
// and every bound one; default alone when accounts does not name the
// namespace) and the namespaces each one aims at: every namespace of every
// other tenant.
func planIdentities(tenants []Tenant, accounts map[string][]string) []Identity {
	var out []Identity
	for i, t := range tenants {
		var targets []string
		for j, o := range tenants {
			if j != i {
				targets = append(targets, o.Namespaces...)
			}
		}
		for _, ns := range t.Namespaces {
			names := accounts[ns]
			if len(names) == 0 {
				names = []string{DefaultServiceAccount}
			}
			for _, sa := range names {
				out = append(out, Identity{Tenant: t.Name, Namespace: ns, ServiceAccount: sa, Targets: targets})
			}
		}
	}
	return out
}

// login gives each planned identity a client with a fresh token. A failure
// is recorded on the identity, not returned: the checks it would have run
// become Errors that say why.
func login(ctx context.Context, c *kube.Client, ids []Identity) []Identity {
	out := make([]Identity, len(ids))
	for i, id := range ids {
		if id.ServiceAccount == DefaultServiceAccount {
			// A timeout here is not fatal: the token request below says
			// what is missing.
			_ = provision.WaitServiceAccount(ctx, c.Clientset, id.Namespace, serviceAccountWait)
		}
		cs, cfg, err := c.AsServiceAccount(ctx, id.Namespace, id.ServiceAccount, tokenTTL)
		if err != nil {
			id.Err = tokenError(err)
		}
		id.Client, id.Config = cs, cfg
		out[i] = id
	}
	return out
}

func tokenError(err error) string {
	if apierrors.IsForbidden(err) {
		return "the runner may not create serviceaccounts/token: " + kube.StatusLine(err)
	}
	return err.Error()
}

// repro is the command a person pastes to ask the same question. The check
// itself used a real token of the service account; the repro impersonates
// it instead (--as), so a person need not mint a token, and for most checks
// asks `kubectl auth can-i`, which consults the same authorisers.
func repro(prefix string, id Identity, kubectl string) string {
	return prefix + " " + kubectl + " --as=" + id.User()
}
