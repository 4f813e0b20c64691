package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A daemon is one long-running process of the cluster, tracked by a pid file.
type daemon struct {
	Name string   // also the pid and log file name
	Bin  string   // absolute path of the binary
	Args []string //
	Env  []string // added to a minimal environment
}

func pidFile(c *config, name string) string { return filepath.Join(c.RunDir, name+".pid") }

// start launches d in its own session, detached from the caller, with its
// output in the cluster's log directory, and records its pid.
func start(c *config, d daemon) error {
	if err := os.MkdirAll(filepath.Dir(c.logFile(d.Name)), 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(c.RunDir, 0o755); err != nil {
		return err
	}
	log, err := os.OpenFile(c.logFile(d.Name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open log for %s: %w", d.Name, err)
	}
	defer log.Close()
	cmd := exec.Command(d.Bin, d.Args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"}, d.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", d.Name, err)
	}
	pid := cmd.Process.Pid
	// Reap it if it dies while we still run, so a crash is visible as "not running".
	go func() { _ = cmd.Wait() }()
	return os.WriteFile(pidFile(c, d.Name), []byte(strconv.Itoa(pid)), 0o644)
}

// runningPid returns the pid of the named daemon when its pid file names a live
// process whose command line still matches bin (a recycled pid does not count).
func runningPid(c *config, name, bin string) (int, bool) {
	b, err := os.ReadFile(pidFile(c, name))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	return pid, pidMatches(pid, bin)
}

func pidMatches(pid int, bin string) bool {
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err == nil && strings.Contains(string(stat), ") Z ") {
		return false // a zombie is dead
	}
	arg0 := strings.SplitN(string(cmdline), "\x00", 2)[0]
	return filepath.Base(arg0) == filepath.Base(bin)
}

// stop ends the named daemon: SIGTERM, then SIGKILL after grace. It removes
// the pid file either way.
func stop(c *config, name, bin string, grace time.Duration) error {
	defer os.Remove(pidFile(c, name))
	pid, ok := runningPid(c, name, bin)
	if !ok {
		return nil
	}
	return killWait(pid, bin, grace)
}

func killWait(pid int, bin string, grace time.Duration) error {
	_ = syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if !pidMatches(pid, bin) {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill %s (pid %d): %w", bin, pid, err)
	}
	for i := 0; i < 50 && pidMatches(pid, bin); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if pidMatches(pid, bin) {
		return fmt.Errorf("%s (pid %d) survived SIGKILL", filepath.Base(bin), pid)
	}
	return nil
}

// procsMatching lists live pids whose command line contains every needle.
func procsMatching(needles ...string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		cmdline := strings.ReplaceAll(string(b), "\x00", " ")
		all := true
		for _, n := range needles {
			if !strings.Contains(cmdline, n) {
				all = false
				break
			}
		}
		if all {
			pids = append(pids, pid)
		}
	}
	return pids
}
