package runner

import (
	"context"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tenantcheck/tenantcheck/internal/kube"
	"github.com/tenantcheck/tenantcheck/internal/layer"
	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/internal/provision"
)

func preflight(ctx context.Context, c *kube.Client, run *Run) (model.Metadata, error) {
	version, err := c.ServerVersion(ctx)
	if err != nil {
		return model.Metadata{}, err
	}
	run.serverVersion = version
	missing, err := c.CheckPermissions(ctx, Needs(run.opts.Mode, run.layers, run.opts.ExtraNeeds))
	if err != nil {
		return model.Metadata{}, err
	}
	if len(missing) > 0 {
		return model.Metadata{}, kube.MissingPermissionsError(missing)
	}
	if err := provision.EnsureNamespacesFree(ctx, c.Clientset, run.Roster.Owned()); err != nil {
		return model.Metadata{}, err
	}
	if err := provision.EnsureNamespacesExist(ctx, c.Clientset, run.Roster.Foreign()); err != nil {
		return model.Metadata{}, err
	}
	digest, _ := run.opts.Spec.Digest()
	meta := model.Metadata{
		ClusterVersion: version, TenantcheckVersion: run.opts.Version, Mode: run.opts.Mode, RunID: run.ID,
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

// observe runs each selected layer in run order and gathers the report.
func observe(ctx context.Context, c *kube.Client, run *Run, meta model.Metadata, phase func(string, time.Duration)) (*model.Report, error) {
	env := &layer.Env{
		Client: c, Roster: run.Roster, Mode: run.opts.Mode, RunID: run.ID, Labels: run.Labels,
		Probe: run.opts.Probe.WithDefaults(), Say: run.say, NoPods: run.opts.NoPods, FluxLive: run.opts.FluxLive,
	}
	var results []model.Result
	var matrices []model.Matrix
	var workloads []model.WorkloadPath
	var latency time.Duration
	var pairs *model.PairCoverage
	var tenantPairs []model.PairVerdict
	for _, l := range run.layers {
		start := time.Now()
		out := l.Run(ctx, env)
		if len(out.Phases) == 0 {
			phase(string(l.ID), time.Since(start))
		}
		for _, p := range out.Phases {
			phase(p.Phase, time.Duration(p.Duration))
		}
		results = append(results, out.Results...)
		matrices = append(matrices, out.Matrices...)
		workloads = append(workloads, out.WorkloadPaths...)
		if out.Pairs != nil {
			pairs = out.Pairs
		}
		tenantPairs = append(tenantPairs, out.TenantPairs...)
		if out.EnforcementLatency > 0 {
			latency = out.EnforcementLatency
		}
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("interrupted while probing: %w", ctx.Err())
	}
	r := model.NewReport(meta, results, matrices)
	r.EnforcementLatency = model.Millis(latency)
	r.WorkloadPaths = workloads
	r.Pairs = pairs
	r.TenantPairs = tenantPairs
	return r, nil
}
