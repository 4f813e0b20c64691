package incluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/tenantcheck/tenantcheck/internal/provision"
)

// Sweep deletes what crashed runs left behind, older than ttl: tenantcheck's
// namespaces, and in any other namespace every object of the kinds the
// layers declare they create (found by tenantcheck's label). Kinds the
// cluster does not serve are passed over. It returns how many objects it
// deleted.
func Sweep(ctx context.Context, cs kubernetes.Interface, dyn dynamic.Interface, kinds []schema.GroupVersionResource, ttl time.Duration) (int, error) {
	sel := metav1.ListOptions{LabelSelector: provision.Selector("")}
	old := func(m metav1.Object) bool {
		return time.Since(m.GetCreationTimestamp().Time) > ttl && m.GetDeletionTimestamp() == nil
	}
	var errs []error
	n := 0
	nss, err := cs.CoreV1().Namespaces().List(ctx, sel)
	if err != nil {
		return 0, fmt.Errorf("sweep: list namespaces: %w", err)
	}
	for _, ns := range nss.Items {
		if old(&ns) && provision.RunOwned(&ns) {
			n++
			errs = append(errs, cs.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{}))
		}
	}
	m, err := DeleteObjects(ctx, dyn, kinds, provision.Selector(""), ttl)
	n += m
	errs = append(errs, err)
	return n, errors.Join(errs...)
}

// DeleteObjects deletes, in every namespace, the objects of kinds that carry
// selector and are older than minAge (0: all): what a run created in
// namespaces it does not own. Kinds the cluster does not serve are passed
// over. It returns how many it deleted.
func DeleteObjects(ctx context.Context, dyn dynamic.Interface, kinds []schema.GroupVersionResource, selector string, minAge time.Duration) (int, error) {
	names, err := DeleteObjectsNamed(ctx, dyn, kinds, selector, minAge, false)
	return len(names), err
}

// DeleteObjectsNamed is DeleteObjects that names what it deleted ("pods
// ns/name"); with dryRun the API server only checks each delete (server-side
// dry run) and nothing goes.
func DeleteObjectsNamed(ctx context.Context, dyn dynamic.Interface, kinds []schema.GroupVersionResource, selector string, minAge time.Duration, dryRun bool) ([]string, error) {
	var errs []error
	var names []string
	zero := int64(0)
	for _, k := range kinds {
		list, err := dyn.Resource(k).Namespace("").List(ctx, metav1.ListOptions{LabelSelector: selector})
		if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("list %s: %w", k.GroupResource(), err))
			continue
		}
		for _, o := range list.Items {
			if time.Since(o.GetCreationTimestamp().Time) < minAge || o.GetDeletionTimestamp() != nil {
				continue
			}
			names = append(names, fmt.Sprintf("%s %s/%s", k.GroupResource(), o.GetNamespace(), o.GetName()))
			opts := metav1.DeleteOptions{}
			if k.Resource == "pods" {
				opts.GracePeriodSeconds = &zero
			}
			if dryRun {
				opts.DryRun = []string{metav1.DryRunAll}
			}
			err := dyn.Resource(k).Namespace(o.GetNamespace()).Delete(ctx, o.GetName(), opts)
			if err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, err)
			}
		}
	}
	return names, errors.Join(errs...)
}
