// Package metrics renders a tenantcheck report as Prometheus metrics: a file
// in the text format (for node-exporter's textfile collector, or a sidecar)
// and a push to a Pushgateway.
//
// Series:
//
//	tenantcheck_check_verdict{layer,check,from,to,verdict} 1     one per check and pair, the verdict it reached
//	tenantcheck_layer_verdict{layer,verdict} 1                   one per layer
//	tenantcheck_run_duration_seconds                             the run, start to end
//	tenantcheck_last_success_timestamp_seconds                   end of the run, when it completed
//	tenantcheck_enforcement_latency_seconds                      a new default-deny's time to take effect
//
// Only the reached verdict's series is written (value 1); an alert asks for
// verdict="Broken". The pairs are the policy reports' (policyreport.Split).
package metrics

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	pmodel "github.com/prometheus/common/model"

	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/internal/policyreport"
)

// Job is the Pushgateway job name.
const Job = "tenantcheck"

// Registry holds rep's metrics. completed says whether the run finished
// (no interrupt, timeout or cleanup failure): only then is the last-success
// timestamp set, which the "no successful run" alert watches.
func Registry(rep *model.Report, tenantNamespaces []string, completed bool) (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	check := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tenantcheck_check_verdict",
		Help: "Verdict a check reached on a pair of namespaces in the last run (1 for the verdict label's value).",
	}, []string{"layer", "check", "from", "to", "verdict"})
	layer := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tenantcheck_layer_verdict",
		Help: "Verdict of each isolation layer in the last run (1 for the verdict label's value).",
	}, []string{"layer", "verdict"})
	duration := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "tenantcheck_run_duration_seconds",
		Help: "Duration of the last run, from start to end.",
	})
	latency := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "tenantcheck_enforcement_latency_seconds",
		Help: "Time a new default-deny NetworkPolicy took to take effect in the last run.",
	})
	collectors := []prometheus.Collector{check, layer, duration, latency}
	if completed {
		success := prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tenantcheck_last_success_timestamp_seconds",
			Help: "Unix time at which the last completed run ended.",
		})
		success.Set(float64(rep.Metadata.End.UnixNano()) / 1e9)
		collectors = append(collectors, success)
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	seen := map[[4]string]model.Verdict{}
	for i, pairs := range policyreport.Split(rep, tenantNamespaces) {
		res := rep.Results[i]
		for _, p := range pairs {
			// One series per check and pair: two groups that print the
			// same (a whole-check Error beside its pairs) keep the worst.
			k := [4]string{string(res.Layer), res.CheckID, p.From, p.To}
			if v, ok := seen[k]; ok && !model.Worse(p.Verdict, v) {
				continue
			} else if ok {
				check.DeleteLabelValues(k[0], k[1], k[2], k[3], string(v))
			}
			seen[k] = p.Verdict
			check.WithLabelValues(k[0], k[1], k[2], k[3], string(p.Verdict)).Set(1)
		}
	}
	for _, s := range rep.Layers {
		layer.WithLabelValues(string(s.Layer), string(s.Verdict)).Set(1)
	}
	duration.Set(rep.Metadata.End.Sub(rep.Metadata.Start).Seconds())
	latency.Set(time.Duration(rep.EnforcementLatency).Seconds())
	return reg, nil
}

// WriteFile writes the registry in the text format, atomically (a
// textfile collector never reads half a file).
func WriteFile(path string, reg *prometheus.Registry) error {
	if err := prometheus.WriteToTextfile(path, reg); err != nil {
		return fmt.Errorf("write metrics file: %w", err)
	}
	return nil
}

// Push replaces the job's metrics on the Pushgateway at url.
func Push(url string, reg *prometheus.Registry) error {
	if err := push.New(url, Job).Gatherer(reg).Push(); err != nil {
		return fmt.Errorf("push metrics to %s: %w", url, err)
	}
	return nil
}

// Parse reads a metrics file the way Prometheus does (the text format
// parser) and lints it with promlint: any problem is an error. The tests
// check what WriteFile wrote with it.
func Parse(r io.Reader) (map[string]*dto.MetricFamily, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	parser := expfmt.NewTextParser(pmodel.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	problems, err := promlint.New(bytes.NewReader(data)).Lint()
	if err != nil {
		return nil, fmt.Errorf("lint metrics: %w", err)
	}
	var errs []error
	for _, p := range problems {
		errs = append(errs, fmt.Errorf("promlint: %s: %s", p.Metric, p.Text))
	}
	return mfs, errors.Join(errs...)
}
