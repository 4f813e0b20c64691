package incluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// ErrLocked says another run holds the lock: the caller exits cleanly.
var ErrLocked = errors.New("another tenantcheck run holds the lock")

// Lock takes the Lease ns/name for holder for at most ttl. When another
// live holder has it, Lock waits up to wait for it to be released or to
// expire, then returns ErrLocked (wrapped, naming the holder). The returned
// release function gives the Lease up.
func Lock(ctx context.Context, cs kubernetes.Interface, ns, name, holder string, ttl, waitFor time.Duration) (func(), error) {
	var lastHolder string
	try := func(ctx context.Context) (bool, error) {
		ok, h, err := acquire(ctx, cs, ns, name, holder, ttl)
		lastHolder = h
		return ok, err
	}
	ok, err := try(ctx)
	if err != nil {
		return nil, err
	}
	if !ok && waitFor > 0 {
		err = wait.PollUntilContextTimeout(ctx, time.Second, waitFor, false, try)
		ok = err == nil
		if err != nil && !wait.Interrupted(err) {
			return nil, err
		}
	}
	if !ok {
		return nil, fmt.Errorf("%w (%s holds lease %s/%s)", ErrLocked, lastHolder, ns, name)
	}
	release := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		l, err := cs.CoordinationV1().Leases(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil && l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity == holder {
			_ = cs.CoordinationV1().Leases(ns).Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &l.ResourceVersion}})
		}
	}
	return release, nil
}

// acquire creates the Lease, or takes it over when it expired; the API
// server's optimistic concurrency decides between two runs racing.
func acquire(ctx context.Context, cs kubernetes.Interface, ns, name, holder string, ttl time.Duration) (bool, string, error) {
	now := metav1.NewMicroTime(time.Now())
	secs := int32(ttl.Seconds())
	spec := coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &secs, AcquireTime: &now, RenewTime: &now}
	l, err := cs.CoordinationV1().Leases(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = cs.CoordinationV1().Leases(ns).Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: spec}, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return false, "another run", nil
		}
		return err == nil, holder, err
	}
	if err != nil {
		return false, "", fmt.Errorf("read lease %s/%s: %w", ns, name, err)
	}
	cur := ""
	if l.Spec.HolderIdentity != nil {
		cur = *l.Spec.HolderIdentity
	}
	if cur != "" && !expired(l) {
		return false, cur, nil
	}
	l.Spec = spec
	if _, err := cs.CoordinationV1().Leases(ns).Update(ctx, l, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsConflict(err) {
			return false, "another run", nil
		}
		return false, cur, fmt.Errorf("take over lease %s/%s: %w", ns, name, err)
	}
	return true, holder, nil
}

func expired(l *coordinationv1.Lease) bool {
	if l.Spec.RenewTime == nil || l.Spec.LeaseDurationSeconds == nil {
		return true
	}
	return time.Since(l.Spec.RenewTime.Time) > time.Duration(*l.Spec.LeaseDurationSeconds)*time.Second
}
