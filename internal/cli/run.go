package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tenantcheck/tenantcheck/internal/baseline"
	"github.com/tenantcheck/tenantcheck/internal/kube"
	"github.com/tenantcheck/tenantcheck/internal/layer"
	"github.com/tenantcheck/tenantcheck/internal/layers"
	"github.com/tenantcheck/tenantcheck/internal/layers/flux"
	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/internal/report"
	"github.com/tenantcheck/tenantcheck/internal/runner"
	"github.com/tenantcheck/tenantcheck/internal/spec"
)

// runCmd validates every input before it touches the cluster, runs, renders
// the report and maps it to the exit code. mode is provision (`run`) or
// audit (`audit`).
func runCmd(ctx context.Context, s Streams, args []string, mode model.Mode) (int, error) {
	f, err := parseRun(args, s.Err, mode)
	if err != nil {
		return ExitIncomplete, err
	}
	format, err := report.ParseFormat(f.output)
	if err != nil {
		return ExitIncomplete, err
	}
	selected, err := parseLayers(f.layers)
	if err != nil {
		return ExitIncomplete, err
	}
	if f.noPods {
		selected = slices.DeleteFunc(selected, func(id model.Layer) bool {
			l, _, _ := layers.Select([]model.Layer{id})
			return len(l) == 1 && l[0].PlacesPods
		})
	}
	var sp *spec.Spec
	if f.specFile != "" {
		if sp, err = spec.Load(f.specFile); err != nil {
			return ExitIncomplete, err
		}
	}
	client, err := f.cluster.client()
	if err != nil {
		return ExitIncomplete, err
	}
	if sp == nil && mode == model.ModeAudit {
		if sp, err = discover(ctx, client, f.discoverLabel, f.namespaces); err != nil {
			return ExitIncomplete, err
		}
	}
	if err := f.exports.prepare(s, client); err != nil {
		return ExitIncomplete, err
	}
	release, proceed, err := f.inCluster.before(ctx, s, client, f.timeout+5*time.Minute)
	switch {
	case err != nil:
		return ExitIncomplete, err
	case !proceed:
		return ExitLocked, nil // before said who holds the lock
	}
	defer release()
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	opts := runner.Options{
		Spec: sp, Mode: mode, Layers: selected, NoPods: f.noPods, Keep: f.keep, Version: Version, Progress: s.Err, CleanupTimeout: f.cleanupTO,
		Probe: layer.ProbeSettings{Image: f.image, PullPolicy: f.pull, ProbeTimeout: f.probeTO, ClusterDomain: f.domain, Retries: 2, MaxShapes: f.maxShapes,
			PriorityClass: f.priority, Pairs: f.pairs},
		ExtraNeeds: f.needs(), FluxLive: f.fluxLive,
	}
	rep, runErr := runner.Execute(ctx, client, opts)
	if rep == nil {
		return ExitIncomplete, runErr
	}
	if err := writeReport(s, f.outputFile, rep, format); err != nil {
		return ExitIncomplete, err
	}
	if f.doneFile != "" {
		if err := os.WriteFile(f.doneFile, []byte(f.outputFile), 0o644); err != nil {
			return ExitIncomplete, fmt.Errorf("--done-file: %w", err)
		}
	}
	if f.summary {
		fmt.Fprintln(s.Err, strings.Join(report.SummaryLines(rep), "\n"))
	} else {
		fmt.Fprintln(s.Err, report.ResultLine(rep))
	}
	var tenantNS []string
	if mode == model.ModeAudit {
		tenantNS = sp.TenantNamespaces()
	}
	regressed, afterErr := f.inCluster.after(context.WithoutCancel(ctx), s, client, rep, tenantNS)
	exportErr := f.exports.after(context.WithoutCancel(ctx), s, client, rep, tenantNS, runErr == nil)
	return exitCode(rep, regressed, errors.Join(runErr, afterErr, exportErr))
}

// exitCode maps a finished run to the exit code: the report's, or 1 on a
// regression; any error after the report was made (cleanup, storing the
// report, an interrupt) makes it 2, except that a proven hole stays 1: the
// error is printed, never in place of the finding.
func exitCode(rep *model.Report, regressed int, err error) (int, error) {
	code := max(model.ExitCode(rep), regressed)
	if err != nil && code != ExitBroken {
		code = ExitIncomplete
	}
	return code, err
}

// discover finds the tenants of an audit by their namespace label, leaving
// out tenantcheck's own namespaces; with only (-n), just those namespaces,
// each of which must exist and carry the label.
func discover(ctx context.Context, c *kube.Client, label string, only []string) (*spec.Spec, error) {
	list, err := c.Clientset.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: label})
	if err != nil {
		return nil, kube.Explain(err, "list namespaces labelled "+label)
	}
	var nss []spec.Namespace
	found := map[string]bool{}
	for _, ns := range list.Items {
		if ns.Labels[baseline.LabelManagedBy] == baseline.ManagedByTenantcheck {
			continue
		}
		if len(only) > 0 && !slices.Contains(only, ns.Name) {
			continue
		}
		found[ns.Name] = true
		nss = append(nss, spec.Namespace{Name: ns.Name, Labels: ns.Labels})
	}
	var missing []string
	for _, ns := range only {
		if !found[ns] {
			missing = append(missing, ns)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("-n %s: no such namespace carries the label %s (or it is tenantcheck's own): label it, or leave it out", strings.Join(missing, ","), label)
	}
	return spec.Discover(nss, label)
}

func writeReport(s Streams, path string, rep *model.Report, format report.Format) error {
	var buf bytes.Buffer
	if err := report.Render(&buf, rep, format); err != nil {
		return fmt.Errorf("render report: %w", err)
	}
	if path == "" {
		_, err := s.Out.Write(buf.Bytes())
		return err
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	fmt.Fprintf(s.Err, "report written to %s\n", path)
	return nil
}

// needs is what the run's options add to the layers' own permissions: the
// in-cluster flags' and, with --flux-live, the Flux live checks'.
func (f *runFlags) needs() []kube.Permission {
	out := append(f.inCluster.needs(), f.exports.needs()...)
	if f.fluxLive {
		out = append(out, flux.LivePermissions...)
	}
	return out
}
