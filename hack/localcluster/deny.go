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
// ICMP port-unreachables (a rule in the raw table's OUTPUT, in a chain of
// its own), which turns every rejection into silence: the local cluster then
// fails the way most real CNIs do, and tenantcheck's judging of timeouts is
// exercised.
//
// The raw table, not filter: kube-router keeps its own jump first in filter
// OUTPUT, and its pod firewall chains accept the ICMP that answers a pod's
// packet (RELATED) before a rule further down sees it. Measured 2026-12-03:
// with the rule in filter OUTPUT, denied paths from pods whose namespace has
// a policy were refused, not dropped, once kube-router had resynced; raw
// OUTPUT comes before every filter chain.
const (
	denyReject = "reject"
	denyDrop   = "drop"
	// dropChain starts with KUBE- so that teardown and verify-clean treat it
	// as the cluster's, like kube-proxy's and kube-router's chains.
	dropChain = "KUBE-TENANTCHECK-DROP"
	dropTable = "raw"
)

// dropRule is the chain's one rule: every port-unreachable the node sends,
// but on loopback (the node's own processes, the unit tests of the probe
// agent among them, keep their refusals).
var dropRule = []string{"!", "-o", "lo", "-p", "icmp", "--icmp-type", "port-unreachable", "-j", "DROP"}

// ensureDeny makes the node's rules match c.Deny; it is idempotent. It
// also removes the filter-table chain that clusters started before
// 2026-12-03 used.
func ensureDeny(ctx context.Context, c *config) error {
	if err := removeDrop(ctx, "filter"); err != nil {
		return err
	}
	present := dropRulePresent(ctx, dropTable)
	switch {
	case c.Deny == denyDrop && !present:
		if err := removeDrop(ctx, dropTable); err != nil { // an older rule
			return err
		}
		for _, args := range [][]string{
			{"-w", "-t", dropTable, "-N", dropChain},
			append([]string{"-w", "-t", dropTable, "-A", dropChain}, dropRule...),
			{"-w", "-t", dropTable, "-I", "OUTPUT", "1", "-j", dropChain},
		} {
			if out, err := exec.CommandContext(ctx, "iptables", args...).CombinedOutput(); err != nil &&
				!strings.Contains(string(out), "already exists") {
				return fmt.Errorf("DENY=drop: iptables %s: %w: %s", strings.Join(args, " "), err, out)
			}
		}
	case c.Deny != denyDrop:
		return removeDrop(ctx, dropTable)
	}
	return nil
}

// removeDrop removes the drop chain and its jump from a table, if there.
func removeDrop(ctx context.Context, table string) error {
	if exec.CommandContext(ctx, "iptables", "-w", "-t", table, "-S", dropChain).Run() != nil {
		return nil // no chain, so no jump to it either
	}
	for _, args := range [][]string{
		{"-w", "-t", table, "-D", "OUTPUT", "-j", dropChain},
		{"-w", "-t", table, "-F", dropChain},
		{"-w", "-t", table, "-X", dropChain},
	} {
		if out, err := exec.CommandContext(ctx, "iptables", args...).CombinedOutput(); err != nil &&
			!strings.Contains(string(out), "does a matching rule exist") && !strings.Contains(string(out), "No chain") {
			return fmt.Errorf("DENY=reject: iptables %s: %w: %s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

// dropRulePresent says whether the table's OUTPUT jumps to the drop chain
// and the chain holds today's rule.
func dropRulePresent(ctx context.Context, table string) bool {
	return exec.CommandContext(ctx, "iptables", "-w", "-t", table, "-C", "OUTPUT", "-j", dropChain).Run() == nil &&
		exec.CommandContext(ctx, "iptables", append([]string{"-w", "-t", table, "-C", dropChain}, dropRule...)...).Run() == nil
}

// deniedOutcome is what the self-check must see for a denied connect.
func deniedOutcome(c *config) string {
	if c.Deny == denyDrop {
		return "timeout"
	}
	return "refused"
}
