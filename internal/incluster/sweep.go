package incluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tenantcheck/tenantcheck/internal/provision"
)

// Sweep deletes what crashed runs left behind: tenantcheck's namespaces, and
// its pods and services in other namespaces, older than ttl. It returns how
// many objects it deleted.
func Sweep(ctx context.Context, cs kubernetes.Interface, ttl time.Duration) (int, error) {
	sel := metav1.ListOptions{LabelSelector: provision.Selector("")}
	old := func(m metav1.ObjectMeta) bool {
		return time.Since(m.CreationTimestamp.Time) > ttl && m.DeletionTimestamp == nil
	}
	var errs []error
	n := 0
	nss, err := cs.CoreV1().Namespaces().List(ctx, sel)
	if err != nil {
		return 0, fmt.Errorf("sweep: list namespaces: %w", err)
	}
	for _, ns := range nss.Items {
		if old(ns.ObjectMeta) {
			n++
			errs = append(errs, cs.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{}))
		}
	}
	pods, err := cs.CoreV1().Pods("").List(ctx, sel)
	if err != nil {
		return n, fmt.Errorf("sweep: list pods: %w", err)
	}
	zero := int64(0)
	for _, p := range pods.Items {
		if old(p.ObjectMeta) {
			n++
			errs = append(errs, cs.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero}))
		}
	}
	svcs, err := cs.CoreV1().Services("").List(ctx, sel)
	if err != nil {
		return n, fmt.Errorf("sweep: list services: %w", err)
	}
	for _, s := range svcs.Items {
		if old(s.ObjectMeta) {
			n++
			errs = append(errs, cs.CoreV1().Services(s.Namespace).Delete(ctx, s.Name, metav1.DeleteOptions{}))
		}
	}
	return n, errors.Join(errs...)
}
