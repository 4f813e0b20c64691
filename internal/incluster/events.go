package incluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tenantcheck/tenantcheck/internal/baseline"
	"github.com/tenantcheck/tenantcheck/internal/model"
)

// ReasonBroken is the Event reason alerting can select on.
const ReasonBroken = "TenantIsolationBroken"

// EmitBrokenEvents records one Warning Event per broken layer on every tenant
// namespace, naming the broken checks.
func EmitBrokenEvents(ctx context.Context, cs kubernetes.Interface, r *model.Report, namespaces []string) error {
	broken := map[model.Layer][]string{}
	for _, res := range r.Results {
		if res.Verdict == model.VerdictBroken {
			broken[res.Layer] = append(broken[res.Layer], res.CheckID)
		}
	}
	var errs []error
	now := metav1.NewTime(time.Now())
	for layer, checks := range broken {
		for _, ns := range namespaces {
			ev := &corev1.Event{
				// Marked as the run's, as deploy/'s guard asks of every
				// object the runner writes in a tenant namespace.
				ObjectMeta: metav1.ObjectMeta{GenerateName: "tenantcheck-", Namespace: ns,
					Labels: map[string]string{baseline.LabelManagedBy: baseline.ManagedByTenantcheck, baseline.LabelRun: runLabel(r)}},
				// The API server takes an Event in a namespace only when
				// its object names the same namespace, a Namespace's too.
				InvolvedObject: corev1.ObjectReference{Kind: "Namespace", Name: ns, Namespace: ns, APIVersion: "v1"},
				Reason:         ReasonBroken, Type: corev1.EventTypeWarning,
				Message:        fmt.Sprintf("layer %s is broken: %s", layer, strings.Join(checks, ", ")),
				Source:         corev1.EventSource{Component: "tenantcheck"},
				FirstTimestamp: now, LastTimestamp: now, Count: 1,
			}
			if _, err := cs.CoreV1().Events(ns).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
				errs = append(errs, fmt.Errorf("event on namespace %s: %w", ns, err))
			}
		}
	}
	return errors.Join(errs...)
}

// runLabel is the report's run ID, or "unknown" for a report without one.
func runLabel(r *model.Report) string {
	if r.Metadata.RunID != "" {
		return r.Metadata.RunID
	}
	return "unknown"
}
