package rbac

import (
	"context"
	"strings"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/tenantcheck/tenantcheck/internal/kube"
	"github.com/tenantcheck/tenantcheck/internal/par"
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
	// Targets are the namespaces of every other tenant.
	Targets []string
	// Sample are the namespaces of the tenant's two neighbours in spec
	// order (ring): above RulesFirstAbove tenants, where every cross-tenant
	// request is really sent even when the rules review lists no grant.
	Sample []string
	Client kubernetes.Interface
	Config *rest.Config
	// Err, when set, is why no token could be had: every request of this
	// identity is then an Error with this reason, never a Held.
	Err string
	// Person is set for a user or a group the spec names as the tenant's:
	// the identity is then the runner impersonating it (rest.Impersonate),
	// never a token, and Namespace is the tenant's first namespace.
	Person *Person
}

// Person is a tenant's user, or one of its groups, from the spec.
type Person struct {
	Kind string // rbacv1.UserKind or rbacv1.GroupKind
	Name string
}

// groupProbeUser is the user name a group's identity acts under: a name no
// person has, so that only the group's grants count.
func groupProbeUser(tenant string) string { return "tenantcheck:group-probe:" + tenant }

// String is "<namespace>/<service account>", or "user <name>" and
// "group <name>", as evidence names it.
func (id Identity) String() string {
	if id.Person != nil {
		return strings.ToLower(id.Person.Kind) + " " + id.Person.Name
	}
	return id.Namespace + "/" + id.ServiceAccount
}

// User is the identity's user name as the API server sees it.
func (id Identity) User() string {
	switch {
	case id.Person == nil:
		return kube.User(id.Namespace, id.ServiceAccount)
	case id.Person.Kind == rbacv1.UserKind:
		return id.Person.Name
	}
	return groupProbeUser(id.Tenant)
}

// Subject is the identity as a binding names it.
func (id Identity) Subject() rbacv1.Subject {
	if id.Person != nil {
		return rbacv1.Subject{Kind: id.Person.Kind, APIGroup: rbacv1.GroupName, Name: id.Person.Name}
	}
	return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: id.ServiceAccount, Namespace: id.Namespace}
}

// SubjectFlag is how `kubectl create rolebinding` names the identity.
func (id Identity) SubjectFlag() string {
	if id.Person != nil {
		return "--" + strings.ToLower(id.Person.Kind) + "=" + id.Person.Name
	}
	return "--serviceaccount=" + id.Namespace + ":" + id.ServiceAccount
}

// asFlags are kubectl's impersonation flags for the identity.
func (id Identity) asFlags() string {
	f := " --as=" + id.User()
	if id.Person != nil && id.Person.Kind == rbacv1.GroupKind {
		f += " --as-group=" + id.Person.Name
	}
	return f
}

// planIdentities lists, without touching the cluster, the identities of
// every tenant namespace (the accounts the tenant acts as there: default
// and every bound one; default alone when accounts does not name the
// namespace) and the namespaces each one aims at: every namespace of every
// other tenant.
func planIdentities(tenants []Tenant, accounts map[string][]string) []Identity {
	var out []Identity
	for i, t := range tenants {
		var targets, sample []string
		for j, o := range tenants {
			if j != i {
				targets = append(targets, o.Namespaces...)
			}
		}
		if n := len(tenants); n > 1 {
			sample = append(sample, tenants[(i+1)%n].Namespaces...)
			if prev := (i + n - 1) % n; prev != (i+1)%n {
				sample = append(sample, tenants[prev].Namespaces...)
			}
		}
		for _, ns := range t.Namespaces {
			names := accounts[ns]
			if len(names) == 0 {
				names = []string{DefaultServiceAccount}
			}
			for _, sa := range names {
				out = append(out, Identity{Tenant: t.Name, Namespace: ns, ServiceAccount: sa, Targets: targets, Sample: sample})
			}
		}
		if len(t.Namespaces) == 0 {
			continue
		}
		for _, u := range t.Users {
			out = append(out, Identity{Tenant: t.Name, Namespace: t.Namespaces[0], Targets: targets, Sample: sample, Person: &Person{Kind: rbacv1.UserKind, Name: u}})
		}
		for _, g := range t.Groups {
			out = append(out, Identity{Tenant: t.Name, Namespace: t.Namespaces[0], Targets: targets, Sample: sample, Person: &Person{Kind: rbacv1.GroupKind, Name: g}})
		}
	}
	return out
}

// login gives each planned identity a client with a fresh token. A failure
// is recorded on the identity, not returned: the checks it would have run
// become Errors that say why.
func login(ctx context.Context, c *kube.Client, ids []Identity) []Identity {
	out := make([]Identity, len(ids))
	par.Do(len(ids), sendConcurrency, func(i int) {
		id := ids[i]
		if id.Person != nil {
			out[i] = impersonating(c, id)
			return
		}
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
	})
	return out
}

func tokenError(err error) string {
	if apierrors.IsForbidden(err) {
		return "the runner may not create serviceaccounts/token: " + kube.StatusLine(err)
	}
	return err.Error()
}

// impersonating gives a person's identity a client of the runner's that
// impersonates it (a group as a user no one is, in that group and
// system:authenticated). The caller has made sure the runner may.
func impersonating(c *kube.Client, id Identity) Identity {
	cfg := rest.CopyConfig(c.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: id.User(), Groups: []string{"system:authenticated"}}
	if id.Person.Kind == rbacv1.GroupKind {
		cfg.Impersonate.Groups = append(cfg.Impersonate.Groups, id.Person.Name)
	}
	cfg.UserAgent = "tenantcheck (as " + id.String() + ")"
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		id.Err = "impersonating client: " + err.Error()
		return id
	}
	id.Client, id.Config = cs, cfg
	return id
}

// repro is the command a person pastes to ask the same question. The check
// itself used a real token of the service account; the repro impersonates
// it instead (--as), so a person need not mint a token, and for most checks
// asks `kubectl auth can-i`, which consults the same authorisers.
func repro(prefix string, id Identity, kubectl string) string {
	return prefix + " " + kubectl + id.asFlags()
}
