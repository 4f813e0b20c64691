package network

import (
	"context"
	"fmt"
	"maps"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/probes"
)

// NotEnforced is the canary's finding when a default-deny stops nothing.
const NotEnforced = "NetworkPolicy is not enforced in this cluster"

var canaryCheck = model.Check{
	ID: "network/policy-enforced", Layer: model.LayerNetwork, Name: "NetworkPolicy is enforced",
	Description: "a fresh default-deny ingress policy stops a connection that worked a moment before; the time it takes is the enforcement latency",
	Expected:    model.ExpectReach(model.ReachBlocked),
}

// canary proves that the CNI enforces NetworkPolicy at all: from the
// outsider namespace it connects to the canary's server, applies a
// default-deny ingress policy, and polls until the connection is blocked.
func canary(ctx context.Context, cs kubernetes.Interface, pr *prober, labels map[string]string, from, to Peer, budget time.Duration) (model.Result, time.Duration) {
	path := Path{From: &from, FromPod: from.Client, To: to.Display, ToPod: to.Server.String(),
		Host: to.Server.IP, Port: probes.ServePort, Protocol: probes.TCP, Via: model.ViaPodIP}
	repro := pr.exec.ReproExec(from.Client.Namespace, from.Client.Name, ContainerName, agentArgs(path, pr.timeout, pr.nonce))
	obs := &Observation{Path: path}
	probe := func() model.Reach {
		start := time.Now()
		r := pr.round(ctx, []Path{path})[path.Key()]
		obs.add(len(obs.Results), start, r, time.Since(start))
		return obs.Reach()
	}
	result := func(j model.Judgement) model.Result {
		r := canaryCheck.Result(j)
		r.Expected = "Allowed before the policy, Blocked after it"
		r.Observed = fmt.Sprintf("%s after %d attempt(s)", obs.Reach(), len(obs.Results))
		r.Attempts, r.Duration = len(obs.Results), model.Millis(obs.Duration)
		r.Evidence = []model.Evidence{evidenceOf(path, obs, repro)}
		return r
	}
	if probe() != model.ReachAllowed {
		return result(model.Errored("the canary server was not reachable before any policy, so enforcement cannot be measured")), 0
	}
	policy := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "tc-canary-default-deny", Namespace: to.Namespace, Labels: maps.Clone(labels)},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{}, PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
		},
	}
	if _, err := cs.NetworkingV1().NetworkPolicies(to.Namespace).Create(ctx, policy, metav1.CreateOptions{}); err != nil {
		return result(model.Errored(fmt.Sprintf("create the canary policy: %v", err))), 0
	}
	// Enforced needs a refusal, or two timeouts in a row: on a CNI that
	// drops, one timeout is also what a slow or briefly unready target
	// looks like. The latency is measured to the first of them.
	applied := time.Now()
	var firstSilent time.Duration
	for time.Since(applied) < budget && ctx.Err() == nil {
		since := time.Since(applied)
		probe()
		switch obs.Last().Outcome {
		case probes.Refused:
			return enforced(result, since)
		case probes.Timeout:
			if firstSilent > 0 {
				return enforced(result, firstSilent)
			}
			firstSilent = since
			continue // the next attempt at once: a timeout already waited
		default:
			firstSilent = 0
		}
		time.Sleep(100 * time.Millisecond)
	}
	return result(model.Broken(fmt.Sprintf("%s: a default-deny ingress policy in %s did not stop a connection from %s within %s",
		NotEnforced, to.Namespace, from.Namespace, budget))), 0
}

func enforced(result func(model.Judgement) model.Result, latency time.Duration) (model.Result, time.Duration) {
	return result(model.Held(fmt.Sprintf("default-deny enforced %s after it was created", latency.Round(time.Millisecond)))), latency
}
