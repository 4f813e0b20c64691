package main

import (
	"fmt"
	"os"
	"syscall"
)

// lockHost takes an exclusive lock for commands that change the cluster, so
// two of them (a test switching profiles while `make run` starts the
// cluster) never interleave. The lock file sits beside the run dir, which
// teardown removes. The kernel drops the lock when the process dies.
func lockHost(c *config) (func(), error) {
	path := c.RunDir + ".lock"
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		fmt.Fprintf(os.Stderr, "waiting for another localcluster command to finish (lock %s)\n", path)
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}
