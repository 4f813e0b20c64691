package cli

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"github.com/tenantcheck/tenantcheck/internal/kube"
	"github.com/tenantcheck/tenantcheck/internal/layers"
	"github.com/tenantcheck/tenantcheck/internal/layers/flux"
	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/internal/runner"
	"github.com/tenantcheck/tenantcheck/internal/spec"
)

// The guard confines the very account the ClusterRole is bound to, keeps
// the default tenant label the CronJob discovers tenants by, and is the
// policy whose refusals every layer reads as tenantcheck's own.
func TestDeployGuardsTheRunner(t *testing.T) {
	d := readDeploy(t)
	require.NotNil(t, d.guard, "deploy/base/guard.yaml has a ValidatingAdmissionPolicy")
	require.Equal(t, kube.GuardPolicy, d.guard.Name)
	require.NotEmpty(t, d.guard.Spec.MatchConditions)
	require.Contains(t, d.guard.Spec.MatchConditions[0].Expression, "'"+d.account+"'", "the guard matches the runner's service account")
	vars := map[string]string{}
	for _, v := range d.guard.Spec.Variables {
		vars[v.Name] = v.Expression
	}
	require.Equal(t, "'"+spec.DefaultTenantLabel+"'", vars["tenantLabel"])
	require.Equal(t, admissionv1.Fail, *d.guard.Spec.FailurePolicy, "a guard that cannot evaluate denies")
}

// deployed is what deploy/base ships: the CronJob's arguments and the rules
// of its ClusterRole and of its Role in its own namespace.
type deployed struct {
	args        []string
	clusterRole []rbacv1.PolicyRule
	role        []rbacv1.PolicyRule
	roleNS      string
	account     string // the runner's service account, as a username
	guard       *admissionv1.ValidatingAdmissionPolicy
}

func readDeploy(t *testing.T) deployed {
	t.Helper()
	var d deployed
	for _, file := range []string{"rbac.yaml", "cronjob.yaml", "guard.yaml"} {
		data, err := os.ReadFile(filepath.Join("..", "..", "deploy", "base", file))
		require.NoError(t, err)
		for _, doc := range bytes.Split(data, []byte("\n---\n")) {
			var head struct{ Kind string }
			require.NoError(t, yaml.Unmarshal(doc, &head))
			switch head.Kind {
			case "ClusterRole":
				var cr rbacv1.ClusterRole
				require.NoError(t, yaml.UnmarshalStrict(doc, &cr))
				d.clusterRole = cr.Rules
			case "Role":
				var r rbacv1.Role
				require.NoError(t, yaml.UnmarshalStrict(doc, &r))
				d.role, d.roleNS = r.Rules, r.Namespace
			case "ServiceAccount":
				var sa corev1.ServiceAccount
				require.NoError(t, yaml.UnmarshalStrict(doc, &sa))
				d.account = "system:serviceaccount:" + sa.Namespace + ":" + sa.Name
			case "ValidatingAdmissionPolicy":
				d.guard = &admissionv1.ValidatingAdmissionPolicy{}
				require.NoError(t, yaml.UnmarshalStrict(doc, d.guard))
			case "CronJob":
				var cj batchv1.CronJob
				require.NoError(t, yaml.UnmarshalStrict(doc, &cj))
				d.args = cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args
			}
		}
	}
	require.NotEmpty(t, d.clusterRole, "deploy/base/rbac.yaml has a ClusterRole")
	require.NotEmpty(t, d.args, "deploy/base/cronjob.yaml has a CronJob with args")
	return d
}

// grants reports whether one of rules allows p (cluster-wide rules cover
// every namespace).
func grants(rules []rbacv1.PolicyRule, p kube.Permission) bool {
	res := p.Resource
	if p.Subresource != "" {
		res += "/" + p.Subresource
	}
	for _, r := range rules {
		if !anyOf(r.APIGroups, p.Group) || !anyOf(r.Resources, res) || !anyOf(r.Verbs, p.Verb) {
			continue
		}
		if len(r.ResourceNames) == 0 || (p.Name != "" && slices.Contains(r.ResourceNames, p.Name)) {
			return true
		}
	}
	return false
}

func anyOf(list []string, v string) bool {
	return slices.Contains(list, "*") || slices.Contains(list, v)
}

// cronJobNeeds is what preflight asks for in the CronJob's own run: the
// CronJob's flags, every layer of an audit.
func cronJobNeeds(t *testing.T, d deployed) []kube.Permission {
	t.Helper()
	require.Equal(t, "audit", d.args[0])
	f, err := parseRun(d.args[1:], io.Discard, model.ModeAudit)
	require.NoError(t, err)
	ids, err := parseLayers(f.layers)
	require.NoError(t, err)
	selected, _, ok := layers.Select(ids)
	require.True(t, ok)
	return runner.Needs(model.ModeAudit, selected, f.needs())
}

// The CronJob can do everything preflight asks of it: every permission of
// every layer of an audit, and of its in-cluster flags, is granted by
// deploy/base's ClusterRole (or, in its own namespace, its Role).
func TestDeployGrantsEveryLayerNeed(t *testing.T) {
	d := readDeploy(t)
	var missing []string
	for _, p := range cronJobNeeds(t, d) {
		ok := grants(d.clusterRole, p) || (p.Namespace == d.roleNS && grants(d.role, p))
		if !ok {
			missing = append(missing, p.String())
		}
	}
	require.Empty(t, missing, "deploy/base/rbac.yaml lacks what the layers need")
}

// The ClusterRole grants nothing no layer, cleanup or in-cluster flag asks
// for: each verb on each resource (and each resourceName) of each rule is
// one that preflight checks.
func TestDeployGrantsNothingUnasked(t *testing.T) {
	d := readDeploy(t)
	needs := cronJobNeeds(t, d)
	asked := func(group, res, verb, name string) bool {
		for _, p := range needs {
			r := p.Resource
			if p.Subresource != "" {
				r += "/" + p.Subresource
			}
			if p.Group == group && r == res && p.Verb == verb && (name == "" || p.Name == name) {
				return true
			}
		}
		return false
	}
	var extra []string
	for _, r := range d.clusterRole {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, verb := range r.Verbs {
					names := r.ResourceNames
					if len(names) == 0 {
						names = []string{""}
					}
					for _, n := range names {
						if !asked(g, res, verb, n) {
							extra = append(extra, strings.TrimSpace(verb+" "+res+"."+g+" "+n))
						}
					}
				}
			}
		}
	}
	require.Empty(t, extra, "deploy/base/rbac.yaml grants what no layer asks for")
}

// deploy/components/flux-live grants exactly what --flux-live adds to an
// audit: with it, the CronJob (which it gives --flux-live) has every
// permission preflight asks for, and it grants nothing the live checks do
// not ask for.
func TestFluxLiveComponentGrantsTheLiveChecks(t *testing.T) {
	d := readDeploy(t)
	data, err := os.ReadFile(filepath.Join("..", "..", "deploy", "components", "flux-live", "rbac.yaml"))
	require.NoError(t, err)
	var live []rbacv1.PolicyRule
	for _, doc := range bytes.Split(data, []byte("\n---\n")) {
		var head struct{ Kind string }
		require.NoError(t, yaml.Unmarshal(doc, &head))
		if head.Kind == "ClusterRole" {
			var cr rbacv1.ClusterRole
			require.NoError(t, yaml.UnmarshalStrict(doc, &cr))
			live = cr.Rules
		}
	}
	require.NotEmpty(t, live)
	comp, err := os.ReadFile(filepath.Join("..", "..", "deploy", "components", "flux-live", "kustomization.yaml"))
	require.NoError(t, err)
	require.Contains(t, string(comp), "value: --flux-live", "the component turns the live checks on")

	d.args = append(d.args, "--flux-live")
	var missing []string
	for _, p := range cronJobNeeds(t, d) {
		if !grants(d.clusterRole, p) && !grants(live, p) && !(p.Namespace == d.roleNS && grants(d.role, p)) {
			missing = append(missing, p.String())
		}
	}
	require.Empty(t, missing, "deploy/base with components/flux-live lacks what --flux-live needs")
	var extra []string
	for _, r := range live {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					p := kube.Permission{Group: g, Resource: res, Verb: v}
					if base, sub, ok := strings.Cut(res, "/"); ok {
						p.Resource, p.Subresource = base, sub
					}
					if !slices.Contains(flux.LivePermissions, p) {
						extra = append(extra, p.String())
					}
				}
			}
		}
	}
	require.Empty(t, extra, "components/flux-live grants what the live checks do not ask for")
}
