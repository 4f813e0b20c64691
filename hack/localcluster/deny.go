package main

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// How denied connections fail. kube-router, the local cluster's enforcer,
// rejects: its firewall answers a denied packet with an ICMP port-unreachable
// that the node itself generates, so a denied TCP connect reads "connection
// refused" at once. Calico, Cilium and kindnetd drop instead, and the client
// times out. Under DENY=drop the node discards those locally generated
// ICMP port-unreachables (a rule in OUTPUT, in a chain of its own), which
// turns every rejection into silence: the local cluster then fails the way
// most real CNIs do, and tenantcheck's judging of timeouts is exercised.
const (
	denyReject = "reject"
	denyDrop   = "drop"
	// dropChain starts with KUBE- so that teardown and verify-clean treat it
	// as the cluster's, like kube-proxy's and kube-router's chains.
	dropChain = "KUBE-TENANTCHECK-DROP"
)

// ensureDeny makes the node's rules match c.Deny; it is idempotent.
func ensureDeny(ctx context.Context, c *config) error {
	present := dropRulePresent(ctx)
	switch {
	case c.Deny == denyDrop && !present:
		for _, args := range [][]string{
			{"-w", "-N", dropChain},
			{"-w", "-A", dropChain, "-p", "icmp", "--icmp-type", "port-unreachable", "-j", "DROP"},
			{"-w", "-I", "OUTPUT", "1", "-j", dropChain},
		} {
			if out, err := exec.CommandContext(ctx, "iptables", args...).CombinedOutput(); err != nil &&
				!strings.Contains(string(out), "already exists") {
				return fmt.Errorf("DENY=drop: iptables %s: %w: %s", strings.Join(args, " "), err, out)
			}
		}
	case c.Deny != denyDrop && present:
		for _, args := range [][]string{
			{"-w", "-D", "OUTPUT", "-j", dropChain},
			{"-w", "-F", dropChain},
			{"-w", "-X", dropChain},
		} {
			if out, err := exec.CommandContext(ctx, "iptables", args...).CombinedOutput(); err != nil {
				return fmt.Errorf("DENY=reject: iptables %s: %w: %s", strings.Join(args, " "), err, out)
			}
		}
	}
	return nil
}

// dropRulePresent says whether OUTPUT jumps to the drop chain.
func dropRulePresent(ctx context.Context) bool {
	return exec.CommandContext(ctx, "iptables", "-w", "-C", "OUTPUT", "-j", dropChain).Run() == nil
}

// deniedOutcome is what the self-check must see for a denied connect.
func deniedOutcome(c *config) string {
	if c.Deny == denyDrop {
		return "timeout"
	}
	return "refused"
}
