// Package provision creates the objects of a run (test tenants, probe pods,
// services, policies) and removes them again. Everything it creates carries
// the run's labels, so an interrupted run can be cleaned up by label.
package provision

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/tenantcheck/tenantcheck/internal/baseline"
	"github.com/tenantcheck/tenantcheck/internal/kube"
	"github.com/tenantcheck/tenantcheck/internal/spec"
)

// EnsureNamespacesFree fails, before anything is created, when one of names
// exists already: a namespace that is not this run's is never touched.
func EnsureNamespacesFree(ctx context.Context, cs kubernetes.Interface, names []string) error {
	var taken []string
	for _, n := range names {
		_, err := cs.CoreV1().Namespaces().Get(ctx, n, metav1.GetOptions{})
		switch {
		case err == nil:
			taken = append(taken, n)
		case apierrors.IsNotFound(err):
		default:
			return fmt.Errorf("check namespace %s: %w", n, err)
		}
	}
	if len(taken) > 0 {
		return fmt.Errorf("namespace %s already exists and is not this run's: nothing was created; remove it or choose other names in the spec", strings.Join(taken, ", "))
	}
	return nil
}

// Create creates objs in order; namespaces first, so that a later object's
// namespace exists. It stops at the first error.
func Create(ctx context.Context, cs kubernetes.Interface, objs []runtime.Object) error {
	for _, o := range objs {
		if err := create(ctx, cs, o); err != nil {
			return err
		}
	}
	return nil
}

func create(ctx context.Context, cs kubernetes.Interface, o runtime.Object) error {
	var err error
	var kind, name string
	c := metav1.CreateOptions{FieldManager: "tenantcheck"}
	switch v := o.(type) {
	case *corev1.Namespace:
		kind, name = "namespace", v.Name
		_, err = cs.CoreV1().Namespaces().Create(ctx, v, c)
	case *corev1.ResourceQuota:
		kind, name = "resourcequota", v.Namespace+"/"+v.Name
		_, err = cs.CoreV1().ResourceQuotas(v.Namespace).Create(ctx, v, c)
	case *corev1.LimitRange:
		kind, name = "limitrange", v.Namespace+"/"+v.Name
		_, err = cs.CoreV1().LimitRanges(v.Namespace).Create(ctx, v, c)
	case *corev1.ServiceAccount:
		kind, name = "serviceaccount", v.Namespace+"/"+v.Name
		_, err = cs.CoreV1().ServiceAccounts(v.Namespace).Create(ctx, v, c)
	case *corev1.Service:
		kind, name = "service", v.Namespace+"/"+v.Name
		_, err = cs.CoreV1().Services(v.Namespace).Create(ctx, v, c)
	case *corev1.Pod:
		kind, name = "pod", v.Namespace+"/"+v.Name
		_, err = cs.CoreV1().Pods(v.Namespace).Create(ctx, v, c)
	case *networkingv1.NetworkPolicy:
		kind, name = "networkpolicy", v.Namespace+"/"+v.Name
		_, err = cs.NetworkingV1().NetworkPolicies(v.Namespace).Create(ctx, v, c)
	case *rbacv1.Role:
		kind, name = "role", v.Namespace+"/"+v.Name
		_, err = cs.RbacV1().Roles(v.Namespace).Create(ctx, v, c)
	case *rbacv1.RoleBinding:
		kind, name = "rolebinding", v.Namespace+"/"+v.Name
		_, err = cs.RbacV1().RoleBindings(v.Namespace).Create(ctx, v, c)
	default:
		return fmt.Errorf("create: unsupported object %T", o)
	}
	if err != nil {
		return fmt.Errorf("create %s %s: %w", kind, name, err)
	}
	return nil
}

// WaitServiceAccount waits until the namespace's default service account
// exists: pods created before it are refused.
func WaitServiceAccount(ctx context.Context, cs kubernetes.Interface, ns string, timeout time.Duration) error {
	return wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
}

// Selector returns the label selector of everything a run created, or of
// everything tenantcheck created when runID is empty.
func Selector(runID string) string {
	s := baseline.LabelManagedBy + "=" + baseline.ManagedByTenantcheck
	if runID != "" {
		s += "," + baseline.LabelRun + "=" + runID
	}
	return s
}

// RunOwned says whether a namespace that carries tenantcheck's labels is
// really one a run created: its name is tc-<run>-..., for the run its
// tenantcheck.io/run label names. Anyone may put the managed-by label on a
// namespace; cleanup and the sweep leave such a namespace alone.
func RunOwned(ns *corev1.Namespace) bool {
	run := ns.Labels[baseline.LabelRun]
	return ns.Labels[baseline.LabelManagedBy] == baseline.ManagedByTenantcheck && run != "" &&
		strings.HasPrefix(ns.Name, spec.RunPrefix+run+"-")
}

// CleanupRuns is Cleanup of the namespaces runs created (RunOwned), of one
// run or (runID "") of all.
func CleanupRuns(ctx context.Context, cs kubernetes.Interface, runID string, timeout time.Duration) ([]string, error) {
	return cleanup(ctx, cs, Selector(runID), RunOwned, timeout)
}

// Cleanup deletes the namespaces that match selector and waits until they
// are gone. It returns the names still present when timeout ran out.
func Cleanup(ctx context.Context, cs kubernetes.Interface, selector string, timeout time.Duration) ([]string, error) {
	return cleanup(ctx, cs, selector, func(*corev1.Namespace) bool { return true }, timeout)
}

// RunAge is one run's namespaces and how long ago the first was created.
type RunAge struct {
	Run        string
	Age        time.Duration
	Namespaces []string
}

// Runs lists the runs that own namespaces (RunOwned), of one run or (runID
// "") of all, oldest first.
func Runs(ctx context.Context, cs kubernetes.Interface, runID string) ([]RunAge, error) {
	list, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: Selector(runID)})
	if err != nil {
		return nil, fmt.Errorf("list namespaces %s: %w", Selector(runID), err)
	}
	byRun := map[string]*RunAge{}
	for _, ns := range list.Items {
		if !RunOwned(&ns) {
			continue
		}
		id := ns.Labels[baseline.LabelRun]
		r, ok := byRun[id]
		if !ok {
			r = &RunAge{Run: id}
			byRun[id] = r
		}
		r.Age = max(r.Age, time.Since(ns.CreationTimestamp.Time))
		r.Namespaces = append(r.Namespaces, ns.Name)
	}
	var out []RunAge
	for _, r := range byRun {
		sort.Strings(r.Namespaces)
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Age > out[j].Age })
	return out, nil
}

// CleanupRunNamespaces deletes the namespaces of the given runs (RunOwned
// only) and waits until they are gone; with dryRun the API server only
// checks each delete and nothing goes. It returns the names still present
// when timeout ran out.
func CleanupRunNamespaces(ctx context.Context, cs kubernetes.Interface, runs []string, dryRun bool, timeout time.Duration) ([]string, error) {
	keep := func(ns *corev1.Namespace) bool {
		return RunOwned(ns) && slices.Contains(runs, ns.Labels[baseline.LabelRun])
	}
	if dryRun {
		list, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: Selector("")})
		if err != nil {
			return nil, fmt.Errorf("list namespaces: %w", err)
		}
		var errs []error
		for _, ns := range list.Items {
			if keep(&ns) && ns.DeletionTimestamp == nil {
				errs = append(errs, cs.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}}))
			}
		}
		return nil, errors.Join(errs...)
	}
	return cleanup(ctx, cs, Selector(""), keep, timeout)
}

func cleanup(ctx context.Context, cs kubernetes.Interface, selector string, keep func(*corev1.Namespace) bool, timeout time.Duration) ([]string, error) {
	list, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, fmt.Errorf("list namespaces %s: %w", selector, err)
	}
	var errs []error
	zero := int64(0)
	for _, ns := range list.Items {
		if ns.DeletionTimestamp != nil || !keep(&ns) {
			continue
		}
		// Pods first with no grace period: the namespace then goes in seconds.
		_ = cs.CoreV1().Pods(ns.Name).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero}, metav1.ListOptions{})
		err := cs.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete namespace %s: %w", ns.Name, err))
		}
	}
	var left []string
	_ = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		l, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return false, nil
		}
		left = left[:0]
		for _, ns := range l.Items {
			if keep(&ns) {
				left = append(left, ns.Name)
			}
		}
		return len(left) == 0, nil
	})
	sort.Strings(left)
	return left, errors.Join(errs...)
}

// EnsureNamespacesExist fails, naming them, when namespaces an audit is to
// test do not exist.
func EnsureNamespacesExist(ctx context.Context, cs kubernetes.Interface, names []string) error {
	var missing []string
	for _, n := range names {
		_, err := cs.CoreV1().Namespaces().Get(ctx, n, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			missing = append(missing, n)
		case err != nil:
			return fmt.Errorf("check namespace %s: %w", n, err)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("namespace %s from the spec does not exist: nothing was created", strings.Join(missing, ", "))
	}
	return nil
}

// markedPods are the pods of ns whose annotations (not labels) match
// selector: the network layer's mimics, which carry the run's marks where
// no NetworkPolicy can select on them.
func markedPods(ctx context.Context, cs kubernetes.Interface, ns, selector string) ([]string, error) {
	sel, err := labels.Parse(selector)
	if err != nil {
		return nil, fmt.Errorf("cleanup: selector %q: %w", selector, err)
	}
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list pods in %s: %w", ns, err)
	}
	var out []string
	for _, p := range pods.Items {
		if len(p.Annotations) > 0 && sel.Matches(labels.Set(p.Annotations)) {
			out = append(out, p.Name)
		}
	}
	return out, nil
}

// CleanupMarkedPods deletes, in every namespace, the pods whose
// annotations match selector (mimics of a run that was killed: the garbage
// collector removes them with their owner Service too, but cleanup says
// "clean" only once they are gone), and waits until they are. It returns
// how many it deleted.
func CleanupMarkedPods(ctx context.Context, cs kubernetes.Interface, selector string, timeout time.Duration) (int, error) {
	names, err := CleanupMarkedPodsNamed(ctx, cs, selector, 0, false, timeout)
	return len(names), err
}

// CleanupMarkedPodsNamed is CleanupMarkedPods of the pods older than minAge
// that names them; with dryRun nothing goes (server-side dry run).
func CleanupMarkedPodsNamed(ctx context.Context, cs kubernetes.Interface, selector string, minAge time.Duration, dryRun bool, timeout time.Duration) ([]string, error) {
	sel, err := labels.Parse(selector)
	if err != nil {
		return nil, fmt.Errorf("cleanup: selector %q: %w", selector, err)
	}
	marked := func() ([]corev1.Pod, error) {
		pods, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("list pods: %w", err)
		}
		var out []corev1.Pod
		for _, p := range pods.Items {
			if len(p.Annotations) > 0 && sel.Matches(labels.Set(p.Annotations)) && time.Since(p.CreationTimestamp.Time) >= minAge {
				out = append(out, p)
			}
		}
		return out, nil
	}
	pods, err := marked()
	if err != nil {
		return nil, err
	}
	zero := int64(0)
	opts := metav1.DeleteOptions{GracePeriodSeconds: &zero}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	var errs []error
	var names []string
	for _, p := range pods {
		names = append(names, "pods "+p.Namespace+"/"+p.Name)
		err := cs.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, opts)
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete pod %s/%s: %w", p.Namespace, p.Name, err))
		}
	}
	if dryRun {
		return names, errors.Join(errs...)
	}
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		left, err := marked()
		return err == nil && len(left) == 0, nil
	})
	if err != nil {
		errs = append(errs, fmt.Errorf("pods of a run (mimics) still present after %s", timeout))
	}
	return names, errors.Join(errs...)
}

// CleanupObjects removes what a run put into namespaces it does not own (an
// audit's tenant namespaces): every object of the layers' declared kinds
// that carries the run's labels, found by selector. Kinds the cluster does
// not serve (Flux's, without Flux) are passed over; so are the pods that
// carry the run's labels as annotations (mimics). It waits until the run's
// pods there are gone.
func CleanupObjects(ctx context.Context, c *kube.Client, namespaces []string, selector string, kinds []schema.GroupVersionResource, timeout time.Duration) error {
	if len(namespaces) == 0 {
		return nil
	}
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		return fmt.Errorf("cleanup: dynamic client: %w", err)
	}
	var errs []error
	zero := int64(0)
	sel := metav1.ListOptions{LabelSelector: selector}
	for _, ns := range namespaces {
		for _, k := range kinds {
			opts := metav1.DeleteOptions{}
			if k.Resource == "pods" {
				opts.GracePeriodSeconds = &zero
			} else {
				bg := metav1.DeletePropagationBackground
				opts.PropagationPolicy = &bg
			}
			err := dyn.Resource(k).Namespace(ns).DeleteCollection(ctx, opts, sel)
			if err != nil && !apierrors.IsNotFound(err) && !meta.IsNoMatchError(err) {
				errs = append(errs, fmt.Errorf("delete %s in %s: %w", k.GroupResource(), ns, err))
			}
		}
	}
	for _, ns := range namespaces {
		pods, err := markedPods(ctx, c.Clientset, ns, selector)
		if err != nil {
			errs = append(errs, err)
		}
		for _, name := range pods {
			err := c.Clientset.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
			if err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("delete pod %s/%s: %w", ns, name, err))
			}
		}
	}
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		for _, ns := range namespaces {
			pods, err := c.Clientset.CoreV1().Pods(ns).List(ctx, sel)
			if err != nil || len(pods.Items) > 0 {
				return false, nil
			}
			marked, err := markedPods(ctx, c.Clientset, ns, selector)
			if err != nil || len(marked) > 0 {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		errs = append(errs, fmt.Errorf("the run's pods are still present in %s after %s", strings.Join(namespaces, ", "), timeout))
	}
	return errors.Join(errs...)
}
