package quota

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// The over-quota pod must be refused by the quota and by nothing else: it
// asks for just more than the quota has left, in containers that each stay
// within the LimitRange's per-container bounds, so that LimitRanger lets it
// through and the quota is the one that answers.

// maxContainers bounds how many containers the over-quota pod may spread
// its request over when a LimitRange caps each container.
const maxContainers = 16

// room is what one quota key has left, as the quota object counts it.
type room struct {
	Quota      string
	Key        corev1.ResourceName
	Hard, Used resource.Quantity
}

// left is hard - used, in the resource's base unit (milli-CPU, bytes).
func (r room) left(res corev1.ResourceName) int64 { return units(r.Hard, res) - units(r.Used, res) }

func (r room) String() string {
	return fmt.Sprintf("%s %s: hard %s, used %s", r.Quota, r.Key, r.Hard.String(), r.Used.String())
}

// quotaKeys are the keys of a quota that count a pod's res.
func quotaKeys(res corev1.ResourceName) []corev1.ResourceName {
	return []corev1.ResourceName{"requests." + res, "limits." + res, res}
}

// applies says whether a quota counts the over-quota pod, which is
// Guaranteed (requests = limits), not terminating and has no priority
// class. A quota with any other scope may not count it, so its room is not
// used to size the request: only unscoped quotas, or those scoped to
// NotTerminating or NotBestEffort, are.
func applies(q corev1.ResourceQuota) bool {
	ok := func(s corev1.ResourceQuotaScope) bool {
		return s == corev1.ResourceQuotaScopeNotTerminating || s == corev1.ResourceQuotaScopeNotBestEffort
	}
	for _, s := range q.Spec.Scopes {
		if !ok(s) {
			return false
		}
	}
	if q.Spec.ScopeSelector != nil {
		for _, e := range q.Spec.ScopeSelector.MatchExpressions {
			if !ok(e.ScopeName) || e.Operator != corev1.ScopeSelectorOpExists {
				return false
			}
		}
	}
	return true
}

// tightest is the key, among the quotas that count the pod, with the least
// room left for res; ok is false when none caps res. scoped is true when a
// quota that may not count the pod caps res.
func tightest(quotas []corev1.ResourceQuota, res corev1.ResourceName) (best room, ok, scoped bool) {
	for _, q := range quotas {
		for _, key := range quotaKeys(res) {
			hard, has := q.Spec.Hard[key]
			if !has {
				continue
			}
			if !applies(q) {
				scoped = true
				continue
			}
			r := room{Quota: q.Name, Key: key, Hard: hard, Used: q.Status.Used[key]}
			if !ok || r.left(res) < best.left(res) {
				best, ok = r, true
			}
		}
	}
	return best, ok, scoped
}

// limits are a LimitRange's bounds on one resource, in base units; 0 means
// unbounded (for the maxima) or no minimum.
type limits struct{ ctrMin, ctrMax, podMin, podMax int64 }

func boundsOf(ranges []corev1.LimitRange, res corev1.ResourceName) limits {
	var b limits
	tighter := func(cur int64, q resource.Quantity) int64 {
		v := units(q, res)
		if cur == 0 || v < cur {
			return v
		}
		return cur
	}
	for _, lr := range ranges {
		for _, item := range lr.Spec.Limits {
			var lo, hi *int64
			switch item.Type {
			case corev1.LimitTypeContainer:
				lo, hi = &b.ctrMin, &b.ctrMax
			case corev1.LimitTypePod:
				lo, hi = &b.podMin, &b.podMax
			default:
				continue
			}
			if q, has := item.Min[res]; has {
				*lo = max(*lo, units(q, res))
			}
			if q, has := item.Max[res]; has {
				*hi = tighter(*hi, q)
			}
		}
	}
	return b
}

// clamp fits v into the container bounds.
func (b limits) clamp(v int64) int64 {
	v = max(v, b.ctrMin)
	if b.ctrMax > 0 {
		v = min(v, b.ctrMax)
	}
	return v
}

// overPlan is the over-quota pod for one resource: its containers'
// resources (requests = limits), what it asks for in all, and the room it
// must exceed.
type overPlan struct {
	Containers []corev1.ResourceRequirements
	Ask        resource.Quantity
	Room       room
}

// smallest is the least amount of a resource worth asking for.
func smallest(res corev1.ResourceName) int64 {
	if res == corev1.ResourceMemory {
		return 1 << 20 // 1Mi
	}
	return 1 // 1m CPU
}

// other is the compute resource that is not res.
func other(res corev1.ResourceName) corev1.ResourceName {
	if res == corev1.ResourceCPU {
		return corev1.ResourceMemory
	}
	return corev1.ResourceCPU
}

// small is what a container asks for of a resource it does not test.
func small(res corev1.ResourceName) int64 {
	if res == corev1.ResourceMemory {
		return 16 << 20
	}
	return 10
}

// planOver derives the over-quota pod for res from the namespace's quotas
// and LimitRanges. When no pod can be refused by the quota alone, it says
// why instead (undecidable is true): the check is then an Error, never a
// verdict.
func planOver(quotas []corev1.ResourceQuota, ranges []corev1.LimitRange, res corev1.ResourceName) (p overPlan, why string) {
	r, ok, scoped := tightest(quotas, res)
	switch {
	case !ok && scoped:
		return p, fmt.Sprintf("only scoped ResourceQuotas cap %s; tenantcheck cannot tell which pods they count", res)
	case !ok:
		return p, ""
	}
	p.Room = r
	need := max(r.left(res)+smallest(res), smallest(res))
	b := boundsOf(ranges, res)
	need = max(need, b.ctrMin)
	per := need
	if b.ctrMax > 0 && b.ctrMax < need {
		per = b.ctrMax
	}
	n := (need + per - 1) / per
	if n > maxContainers {
		return p, fmt.Sprintf("exceeding %s's room (%s left) needs %d containers of at most %s (LimitRange max): more than %d",
			r.Key, qstr(r.left(res), res), n, qstr(b.ctrMax, res), maxContainers)
	}
	ob := boundsOf(ranges, other(res))
	otherEach := ob.clamp(small(other(res)))
	var total int64
	for i := range n {
		amount := min(per, need-int64(i)*per)
		amount = b.clamp(amount)
		total += amount
		rl := corev1.ResourceList{res: quantity(amount, res), other(res): quantity(otherEach, other(res))}
		p.Containers = append(p.Containers, corev1.ResourceRequirements{Requests: rl, Limits: rl.DeepCopy()})
	}
	if b.podMax > 0 && total > b.podMax {
		return p, fmt.Sprintf("the LimitRange caps a pod's %s at %s, within %s's room (%s left): one pod cannot exceed the quota",
			res, qstr(b.podMax, res), r.Key, qstr(r.left(res), res))
	}
	if ob.podMax > 0 && n*otherEach > ob.podMax {
		return p, fmt.Sprintf("the LimitRange caps a pod's %s at %s, below what %d containers need", other(res), qstr(ob.podMax, other(res)), n)
	}
	p.Ask = quantity(total, res)
	return p, ""
}

// units is q in the resource's base unit: milli-CPU or bytes.
func units(q resource.Quantity, res corev1.ResourceName) int64 {
	if res == corev1.ResourceCPU {
		return q.MilliValue()
	}
	return q.Value()
}

func quantity(v int64, res corev1.ResourceName) resource.Quantity {
	if res == corev1.ResourceCPU {
		return *resource.NewMilliQuantity(v, resource.DecimalSI)
	}
	return *resource.NewQuantity(v, resource.BinarySI)
}

func qstr(v int64, res corev1.ResourceName) string {
	q := quantity(v, res)
	return q.String()
}

// quotaRefused reports whether msg is ResourceQuota's refusal for
// exceeding res ("exceeded quota: q, requested: limits.cpu=2,requests.cpu=2,
// used: ..., limited: ..."): the refusal lists only the keys exceeded.
func quotaRefused(msg string, res corev1.ResourceName) bool {
	_, rest, ok := strings.Cut(msg, "exceeded quota:")
	if !ok {
		return false
	}
	_, requested, ok := strings.Cut(rest, "requested:")
	if !ok {
		return false
	}
	requested, _, _ = strings.Cut(requested, ", used:")
	for _, kv := range strings.Split(requested, ",") {
		k, _, _ := strings.Cut(strings.TrimSpace(kv), "=")
		if slices.Contains(quotaKeys(res), corev1.ResourceName(k)) {
			return true
		}
	}
	return false
}

// defaultsMatch compares what the API server filled into a container that
// declared no resources with what the namespace's LimitRanges default:
// every resource a Container item defaults must be set, to one of the
// values some LimitRange gives it (with several LimitRanges the API server
// applies them in no set order). The API server stores a LimitRange with
// defaultRequest already filled from default (and default from max), so
// the stored objects say what admission applies. It returns "" when all
// match, else what does not.
func defaultsMatch(ranges []corev1.LimitRange, got corev1.ResourceRequirements) string {
	type want struct {
		requests, limits map[corev1.ResourceName][]resource.Quantity
	}
	w := want{map[corev1.ResourceName][]resource.Quantity{}, map[corev1.ResourceName][]resource.Quantity{}}
	for _, lr := range ranges {
		for _, item := range lr.Spec.Limits {
			if item.Type != corev1.LimitTypeContainer {
				continue
			}
			for k, v := range item.Default {
				w.limits[k] = append(w.limits[k], v)
			}
			for k, v := range item.DefaultRequest {
				w.requests[k] = append(w.requests[k], v)
			}
		}
	}
	if len(w.limits) == 0 && len(w.requests) == 0 {
		return "no LimitRange defaults a container's resources"
	}
	var off []string
	cmp := func(kind string, wants map[corev1.ResourceName][]resource.Quantity, have corev1.ResourceList) {
		keys := make([]string, 0, len(wants))
		for k := range wants {
			keys = append(keys, string(k))
		}
		slices.Sort(keys)
		for _, k := range keys {
			v, set := have[corev1.ResourceName(k)]
			if !set {
				off = append(off, fmt.Sprintf("%s %s not set", kind, k))
				continue
			}
			if !slices.ContainsFunc(wants[corev1.ResourceName(k)], func(q resource.Quantity) bool { return q.Cmp(v) == 0 }) {
				off = append(off, fmt.Sprintf("%s %s=%s, the LimitRange says %s", kind, k, v.String(), join(wants[corev1.ResourceName(k)])))
			}
		}
	}
	cmp("request", w.requests, got.Requests)
	cmp("limit", w.limits, got.Limits)
	return strings.Join(off, "; ")
}

func join(qs []resource.Quantity) string {
	var s []string
	for _, q := range qs {
		s = append(s, q.String())
	}
	return strings.Join(s, " or ")
}
