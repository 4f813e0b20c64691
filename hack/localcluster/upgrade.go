package main

import (
	"context"
	"fmt"
	"time"
)

// upgrade restarts the control plane and the node agents on c.K8sVersion,
// keeping etcd (its data and every object), containerd and the running pods.
// It is the test bed for "does isolation still hold after an upgrade".
func upgrade(ctx context.Context, c *config) error {
	// The lock is taken here, not by the command line, so that the live
	// tests, which call this directly, are kept apart from a command too.
	unlock, err := lockHost(c)
	if err != nil {
		return err
	}
	defer unlock()
	s := newSteps()
	st, ok := readState(c)
	if !ok {
		return fmt.Errorf("no cluster to upgrade: run `make cluster-up` first")
	}
	if st.K8sVersion == c.K8sVersion {
		s.say("cluster already runs %s", c.K8sVersion)
		return nil
	}
	if err := preflight(ctx, c); err != nil {
		return err
	}
	b, err := ensureBuilt(ctx, c, s)
	if err != nil {
		return err
	}
	if _, ok := runningPid(c, "etcd", "etcd"); !ok {
		return fmt.Errorf("etcd is not running: the cluster is not healthy; run `make cluster-up` first")
	}
	s.say("upgrading %s -> %s", st.K8sVersion, c.K8sVersion)
	if err := stopAgents(c); err != nil {
		return err
	}
	s.say("old control plane and node agents stopped (etcd, containerd and pods keep running)")
	c.Profile, c.NoPSA = st.Profile, st.NoPSA
	if st.Deny != "" {
		c.Deny = st.Deny
	}
	st.K8sVersion, st.Flags = c.K8sVersion, flagsRev // restarted with these flags
	if err := writeState(c, st); err != nil {
		return err
	}
	if err := restartOnVersion(ctx, c, b, st.NodeIP, s); err != nil {
		return err
	}
	out, err := kubectl(ctx, c, b, "", "version")
	if err != nil {
		return err
	}
	fmt.Print(out)
	s.say("upgraded to %s", c.K8sVersion)
	return nil
}

// stopAgents stops everything but etcd and containerd: the objects and the
// running pods stay.
func stopAgents(c *config) error {
	for _, d := range stopOrder {
		if d.name == "etcd" {
			continue
		}
		if err := stop(c, d.name, d.bin, 15*time.Second); err != nil {
			return err
		}
	}
	return nil
}

func restartOnVersion(ctx context.Context, c *config, b binaries, nodeIP string, s *steps) error {
	if err := start(c, apiserverDaemon(c, b, nodeIP)); err != nil {
		return err
	}
	if err := poll(ctx, 250*time.Millisecond, 90*time.Second, "kube-apiserver /readyz", func(ctx context.Context) (bool, error) {
		err := apiReady(ctx, c)
		return err == nil, err
	}); err != nil {
		return err
	}
	for _, d := range []daemon{controllerManagerDaemon(c, b), schedulerDaemon(c, b), kubeletDaemon(c, b, nodeIP), kubeProxyDaemon(c, b)} {
		if err := start(c, d); err != nil {
			return err
		}
	}
	if c.Profile == profileEnforcing {
		if err := start(c, kubeRouterDaemon(c, b)); err != nil {
			return err
		}
	}
	s.say("new control plane and node agents started")
	return selfCheck(ctx, c, b, s)
}
