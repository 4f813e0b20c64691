package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"k8s.io/client-go/dynamic"

	"github.com/tenantcheck/tenantcheck/internal/kube"
	"github.com/tenantcheck/tenantcheck/internal/metrics"
	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/internal/policyreport"
)

// exportFlags send the run's results where platform teams already look:
// policy reports in the cluster (Policy Reporter) and Prometheus metrics.
type exportFlags struct {
	policyReports bool
	policyAPI     string
	api           *policyreport.API // chosen in prepare; nil: no reports
	prepared      bool
	metricsFile   string
	pushgateway   string
}

func (f *exportFlags) register(fs *flag.FlagSet, mode model.Mode) {
	fs.StringVar(&f.metricsFile, "metrics-file", "", "also write the results as Prometheus metrics (text format) to this file, e.g. for node-exporter's textfile collector")
	fs.StringVar(&f.pushgateway, "pushgateway", "", "also push the results as Prometheus metrics to this Pushgateway URL (job tenantcheck), when the run completed")
	if mode == model.ModeAudit {
		fs.BoolVar(&f.policyReports, "policy-reports", false, "write the results as policy reports: one per tenant namespace and one cluster report, replacing the previous run's (OpenReports where its CRD is served, else wg-policy PolicyReport)")
		fs.StringVar(&f.policyAPI, "policy-report-api", "auto", "report API for --policy-reports: auto, openreports (openreports.io/v1alpha1) or wgpolicyk8s (wgpolicyk8s.io/v1alpha2)")
	}
}

// prepare finds the report API before the run, so that its permissions are
// checked in preflight. Without either CRD it says so once and the run goes
// on; an API asked for by name that is not served is an input error.
func (f *exportFlags) prepare(s Streams, c *kube.Client) error {
	if !f.policyReports {
		return nil
	}
	f.prepared = true
	api, err := policyreport.Discover(c.Clientset.Discovery(), f.policyAPI)
	switch {
	case errors.Is(err, policyreport.ErrNotServed) && (f.policyAPI == "" || f.policyAPI == "auto"):
		fmt.Fprintf(s.Err, "tenantcheck: --policy-reports: %v; going on without them\n", err)
		return nil
	case err != nil:
		return err
	}
	f.api = &api
	return nil
}

// needs are the chosen API's permissions; before prepare (deploy/'s RBAC is
// checked against the CronJob's flags that way), those of either API.
func (f *exportFlags) needs() []kube.Permission {
	switch {
	case f.api != nil:
		return f.api.Permissions()
	case f.policyReports && !f.prepared:
		var out []kube.Permission
		for _, a := range policyreport.APIs {
			out = append(out, a.Permissions()...)
		}
		return out
	}
	return nil
}

// after writes the metrics and the policy reports of a finished run;
// completed says whether it ran to its end without an error.
func (f *exportFlags) after(ctx context.Context, s Streams, c *kube.Client, rep *model.Report, tenantNamespaces []string, completed bool) error {
	return errors.Join(f.writeMetrics(s, rep, tenantNamespaces, completed), f.writeReports(ctx, s, c, rep, tenantNamespaces))
}

func (f *exportFlags) writeMetrics(s Streams, rep *model.Report, tenantNamespaces []string, completed bool) error {
	if f.metricsFile == "" && f.pushgateway == "" {
		return nil
	}
	reg, err := metrics.Registry(rep, tenantNamespaces, completed)
	if err != nil {
		return err
	}
	var errs []error
	if f.metricsFile != "" {
		if err := metrics.WriteFile(f.metricsFile, reg); err != nil {
			errs = append(errs, err)
		} else {
			fmt.Fprintf(s.Err, "metrics written to %s\n", f.metricsFile)
		}
	}
	switch {
	case f.pushgateway != "" && !completed:
		fmt.Fprintf(s.Err, "metrics not pushed to %s: the run did not complete\n", f.pushgateway)
	case f.pushgateway != "":
		if err := metrics.Push(f.pushgateway, reg); err != nil {
			errs = append(errs, err)
		} else {
			fmt.Fprintf(s.Err, "metrics pushed to %s\n", f.pushgateway)
		}
	}
	return errors.Join(errs...)
}

// writeReports writes the policy reports.
func (f *exportFlags) writeReports(ctx context.Context, s Streams, c *kube.Client, rep *model.Report, tenantNamespaces []string) error {
	if f.api == nil {
		return nil
	}
	docs := policyreport.Build(rep, tenantNamespaces)
	if err := policyreport.Verify(rep, docs); err != nil {
		return fmt.Errorf("policy reports not written: they would not match the report: %w", err)
	}
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		return fmt.Errorf("policy reports: %w", err)
	}
	w, err := policyreport.Write(ctx, dyn, *f.api, docs, rep.Metadata.RunID)
	if err != nil {
		return fmt.Errorf("policy reports (%s): %w", f.api.GroupVersion(), err)
	}
	msg := fmt.Sprintf("policy reports: %d %s (%d %s, 1 %s)", w.Applied, f.api.GroupVersion(), w.Applied-1, f.api.Kind, f.api.ClusterKind)
	if len(w.Deleted) > 0 {
		msg += fmt.Sprintf("; removed %d of namespaces no longer audited: %s", len(w.Deleted), strings.Join(w.Deleted, ", "))
	}
	fmt.Fprintln(s.Err, msg)
	return nil
}
