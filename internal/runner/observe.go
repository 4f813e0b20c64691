package runner

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tenantcheck/tenantcheck/internal/kube"
	"github.com/tenantcheck/tenantcheck/internal/layers/flux"
	"github.com/tenantcheck/tenantcheck/internal/layers/network"
	"github.com/tenantcheck/tenantcheck/internal/layers/podsecurity"
	"github.com/tenantcheck/tenantcheck/internal/layers/quota"
	"github.com/tenantcheck/tenantcheck/internal/layers/rbac"
	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/internal/provision"
	"github.com/tenantcheck/tenantcheck/internal/spec"
)

// auditPermissions: an audit creates only its own two namespaces, probe
// pods and services; it provisions nothing in the tenants.
var auditPermissions = []kube.Permission{
	{Verb: "create", Resource: "namespaces"},
	{Verb: "delete", Resource: "namespaces"},
	{Verb: "list", Resource: "namespaces"},
	{Verb: "create", Resource: "pods"},
	{Verb: "create", Resource: "pods", Subresource: "exec", Name: network.ClientPod},
	{Verb: "get", Resource: "pods"},
	{Verb: "create", Resource: "services"},
	{Verb: "create", Group: "networking.k8s.io", Resource: "networkpolicies"},
}

// requiredPermissions are what provision mode does: an audit's, plus
// creating the guide's baseline objects. A missing one is named before
// anything is created.
var requiredPermissions = append(slices.Clone(auditPermissions),
	kube.Permission{Verb: "create", Resource: "resourcequotas"},
	kube.Permission{Verb: "create", Resource: "limitranges"},
	kube.Permission{Verb: "create", Resource: "serviceaccounts"},
	kube.Permission{Verb: "create", Group: "rbac.authorization.k8s.io", Resource: "roles"},
	kube.Permission{Verb: "create", Group: "rbac.authorization.k8s.io", Resource: "rolebindings"},
)

func preflight(ctx context.Context, c *kube.Client, run *Run) (model.Metadata, error) {
	version, err := c.ServerVersion(ctx)
	if err != nil {
		return model.Metadata{}, err
	}
	perms := requiredPermissions
	if run.opts.Mode == model.ModeAudit {
		perms = auditPermissions
	}
	missing, err := c.CheckPermissions(ctx, perms)
	if err != nil {
		return model.Metadata{}, err
	}
	if len(missing) > 0 {
		return model.Metadata{}, kube.MissingPermissionsError(missing)
	}
	if err := provision.EnsureNamespacesFree(ctx, c.Clientset, run.ownNamespaces()); err != nil {
		return model.Metadata{}, err
	}
	if err := provision.EnsureNamespacesExist(ctx, c.Clientset, run.audited()); err != nil {
		return model.Metadata{}, err
	}
	digest, _ := run.opts.Spec.Digest()
	meta := model.Metadata{
		ClusterVersion: version, TenantcheckVersion: run.opts.Version, Mode: run.opts.Mode,
		Start: run.started, SpecDigest: digest, Tenants: run.Spec.TenantNames(),
	}
	if nodes, err := c.Clientset.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err == nil {
		meta.Nodes = len(nodes.Items)
	}
	meta.CNI = guessCNI(ctx, c)
	run.say("cluster %s (%s), %d node(s), CNI %s", c.Config.Host, version, meta.Nodes, meta.CNI)
	return meta, nil
}

// guessCNI names the CNI from the pods of kube-system; it is a hint for the
// report, never used for a verdict.
func guessCNI(ctx context.Context, c *kube.Client) string {
	pods, err := c.Clientset.CoreV1().Pods("").List(ctx, metav1.ListOptions{Limit: 500})
	if err != nil {
		return "unknown"
	}
	for _, p := range pods.Items {
		for _, cni := range []string{"calico", "cilium", "kube-router", "antrea", "weave", "flannel", "kindnet", "canal"} {
			if strings.Contains(p.Name, cni) {
				return cni
			}
		}
	}
	return "unknown"
}

func observe(ctx context.Context, c *kube.Client, run *Run, meta model.Metadata, phase func(string, time.Time)) (*model.Report, error) {
	var results []model.Result
	var matrices []model.Matrix
	var latency time.Duration
	if wants(run.opts.Layers, model.LayerNetwork) {
		in := network.Input{
			Peers: run.Peers, DNSNamespace: run.Spec.DNS.Namespace, DNSService: run.Spec.DNS.Service,
			Config: run.opts.Network, EnforceBudget: run.opts.EnforceBudget, Say: run.say,
		}
		in.Config.Labels = run.Labels
		run.say("network: deploying probe pods in %d namespaces", len(run.Peers))
		out := network.Run(ctx, c.Clientset, c, in)
		phase("deploy", time.Now().Add(-out.DeployTime))
		phase("probe", time.Now().Add(-out.ProbeTime))
		run.say("network: probed in %.1fs", out.ProbeTime.Seconds())
		results = append(results, out.Results...)
		matrices = append(matrices, out.Matrices...)
		latency = out.EnforcementLatency
	}
	if wants(run.opts.Layers, model.LayerPodSecurity) {
		t := time.Now()
		results = append(results, podsecurity.Run(ctx, c.Clientset, podsecurity.Input{
			Namespaces: run.Spec.TenantNamespaces(), Image: run.opts.Network.Image, Labels: run.Labels,
		})...)
		phase("podsecurity", t)
		run.say("podsecurity: %d violation classes tried with server dry-run in %.1fs", len(podsecurity.Checks), time.Since(t).Seconds())
	}
	if wants(run.opts.Layers, model.LayerQuota) {
		t := time.Now()
		results = append(results, quota.Run(ctx, c.Clientset, quota.Input{
			Namespaces: run.Spec.TenantNamespaces(), Image: run.opts.Network.Image,
			Provisioned: run.opts.Mode == model.ModeProvision, Labels: run.Labels,
			AsServiceAccount: func(ctx context.Context, ns, sa string) (kubernetes.Interface, error) {
				cs, _, err := c.AsServiceAccount(ctx, ns, sa, 10*time.Minute)
				return cs, err
			},
		})...)
		phase("quota", t)
		run.say("quota: quota and LimitRange tried in %.1fs", time.Since(t).Seconds())
	}
	if wants(run.opts.Layers, model.LayerRBAC) {
		t := time.Now()
		var tenants []rbac.Tenant
		for _, tn := range run.Spec.Tenants {
			tenants = append(tenants, rbac.Tenant{Name: tn.Name, Namespaces: tn.Namespaces})
		}
		results = append(results, rbac.Run(ctx, c, rbac.Input{Tenants: tenants})...)
		phase("rbac", t)
		run.say("rbac: tenant tokens tried across tenants in %.1fs", time.Since(t).Seconds())
	}
	if wants(run.opts.Layers, model.LayerFlux) {
		t := time.Now()
		var tenants []flux.Tenant
		for _, tn := range run.Spec.Tenants {
			tenants = append(tenants, flux.Tenant{Name: tn.Name, Namespaces: tn.Namespaces})
		}
		results = append(results, flux.Run(ctx, c, flux.Input{
			Tenants: tenants, Outsider: spec.RunNamespace(run.ID, "outsider"),
			Image: run.opts.Network.Image, PullPolicy: run.opts.Network.PullPolicy, Labels: run.Labels, Say: run.say,
		})...)
		phase("flux", t)
		run.say("flux: layer checked in %.1fs", time.Since(t).Seconds())
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("interrupted while probing: %w", ctx.Err())
	}
	r := model.NewReport(meta, results, matrices)
	r.EnforcementLatency = model.Millis(latency)
	return r, nil
}
