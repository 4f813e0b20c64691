package flux

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/tenantcheck/tenantcheck/internal/kube"
	"github.com/tenantcheck/tenantcheck/internal/model"
)

// Flux's Ready reasons the judges name.
const (
	ReasonAccessDenied   = "AccessDenied"
	ReasonArtifactFailed = "ArtifactFailed"
	ReasonProgressing    = "Progressing"
	// BlockedMessage is what kustomize-controller says when
	// --no-cross-namespace-refs refuses a sourceRef.
	BlockedMessage = "cross-namespace references have been blocked"
	// gateMessage is what it says when its ExternalArtifact feature gate
	// is off (Flux's default): it then takes no ExternalArtifact source.
	gateMessage = "ExternalArtifact feature gate is disabled"
	// GateDisabled is the reason of a check the controller cannot answer
	// for that reason.
	GateDisabled = "kustomize-controller runs without --feature-gates=ExternalArtifact=true, so it takes no source tenantcheck can offer without a Git host; the static checks still read its flags"
)

// Condition is a Kustomization's Ready condition.
type Condition struct{ Status, Reason, Message string }

// Observation is what the cluster showed of one live check's Kustomization.
type Observation struct {
	// Found is false until the Kustomization has a Ready condition.
	Found bool
	Ready Condition
	// Fetched: the controller attempted the artifact's revision, so it
	// resolved the source.
	Fetched bool
	// Content is "namespace/name" of the check's ConfigMap when it exists.
	Content string
	// ReadErr is the last error reading the Kustomization or the ConfigMap.
	ReadErr  string
	Elapsed  time.Duration
	TimedOut time.Duration // the bound, when the wait ran out
}

// Conclusive says whether the controller has answered: the content landed,
// or Ready is True, or Ready is False for a reason that is not a retry
// (a missing artifact or a reconciliation still under way).
func (o Observation) Conclusive() bool {
	switch {
	case o.Content != "":
		return true
	case !o.Found:
		return false
	case o.Ready.Status == "True":
		return true
	case o.Ready.Status == "False":
		return o.Ready.Reason != ReasonArtifactFailed && o.Ready.Reason != ReasonProgressing && o.Ready.Reason != "DependencyNotReady"
	}
	return false
}

// ArtifactPending: the controller found the source without an artifact,
// and will only look again after its dependency requeue interval.
func (o Observation) ArtifactPending() bool {
	return o.Found && o.Ready.Reason == ReasonArtifactFailed && strings.Contains(o.Ready.Message, "artifact not found")
}

func (o Observation) String() string {
	var parts []string
	if o.Found {
		parts = append(parts, fmt.Sprintf("Ready=%s reason=%s: %s", o.Ready.Status, o.Ready.Reason, o.Ready.Message))
	} else {
		parts = append(parts, "no Ready condition")
	}
	if o.Content != "" {
		parts = append(parts, "ConfigMap "+o.Content+" exists")
	}
	if o.ReadErr != "" {
		parts = append(parts, "read error: "+o.ReadErr)
	}
	if o.TimedOut > 0 {
		parts = append(parts, "no verdict within "+o.TimedOut.String())
	}
	return strings.Join(parts, "; ")
}

// observe reads the Kustomization's Ready condition and looks for the
// check's ConfigMap in the namespace its content names.
func observe(ctx context.Context, e env, crds installed, ns, name, cmNS, revision string) Observation {
	var o Observation
	u, err := e.dyn.Resource(*crds.kustomization).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		o.ReadErr = err.Error()
	} else {
		o.Ready, o.Found = readyCondition(u)
		last, _, _ := unstructured.NestedString(u.Object, "status", "lastAttemptedRevision")
		o.Fetched = last != "" && last == revision
	}
	_, err = e.cs.CoreV1().ConfigMaps(cmNS).Get(ctx, name, metav1.GetOptions{})
	switch {
	case err == nil:
		o.Content = cmNS + "/" + name
	case !apierrors.IsNotFound(err):
		o.ReadErr = err.Error()
	}
	return o
}

func readyCondition(u *unstructured.Unstructured) (Condition, bool) {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Ready" {
			s := func(k string) string { v, _ := m[k].(string); return v }
			return Condition{Status: s("status"), Reason: s("reason"), Message: strings.TrimSpace(s("message"))}, true
		}
	}
	return Condition{}, false
}

// inconclusive is the Error of a check the controller did not answer.
func inconclusive(o Observation) model.Judgement {
	if !o.Found {
		return model.Errored("the controller set no Ready condition (is kustomize-controller running and watching all namespaces?): " + o.String())
	}
	return model.Errored("the controller's answer says nothing about isolation: " + o.String())
}

// gateOff says whether the controller refused the ExternalArtifact kind
// itself, which says nothing about isolation.
func gateOff(o Observation) bool {
	return o.Ready.Reason == ReasonAccessDenied && strings.Contains(o.Ready.Message, gateMessage)
}

// JudgeCrossNamespace: held when the controller refused the sourceRef;
// broken when it resolved it (applied, or fetched the other tenant's
// artifact).
func JudgeCrossNamespace(o Observation, p Pair, _ string) model.Judgement {
	switch {
	case o.Ready.Status == "False" && o.Ready.Reason == ReasonAccessDenied && strings.Contains(o.Ready.Message, BlockedMessage):
		return model.Held("refused: " + o.Ready.Message)
	case o.Ready.Status == "True" || o.Content != "":
		return model.Broken(fmt.Sprintf("the controller reconciled %s's source for %s: %s", p.B, p.A, o.String()))
	case o.Fetched:
		return model.Broken(fmt.Sprintf("the controller fetched %s's artifact for %s: %s", p.B, p.A, o.String()))
	case gateOff(o):
		return model.Skipped(GateDisabled)
	}
	return inconclusive(o)
}

var refusedRe = regexp.MustCompile(`User "([^"]+)" cannot (\S+)`)

// refusal is one `User "X" cannot V` of an API Forbidden.
type refusal struct{ User, Verb string }

// forbiddenAs reports whether the condition is an API Forbidden, and every
// user it names as refused, with the verb, in order.
func forbiddenAs(c Condition) (bool, []refusal) {
	if c.Status != "False" || !strings.Contains(strings.ToLower(c.Message), "forbidden") {
		return false, nil
	}
	var out []refusal
	for _, m := range refusedRe.FindAllStringSubmatch(c.Message, -1) {
		out = append(out, refusal{User: m[1], Verb: m[2]})
	}
	return true, out
}

// leaked is the Broken judgement of content that reached tenant B.
func leaked(o Observation, p Pair, how string) (model.Judgement, bool) {
	switch {
	case o.Content != "":
		return model.Broken(fmt.Sprintf("ConfigMap %s was created from %s: %s", o.Content, p.A, how)), true
	case o.Ready.Status == "True":
		return model.Broken(fmt.Sprintf("the Kustomization in %s applied content into %s: %s", p.A, p.B, how)), true
	}
	return model.Judgement{}, false
}

// judgeRefusal judges a Forbidden by whom it names. Only a refusal of the
// identity under test (is) shows that identity confined: when the message
// names nobody, or someone else (the controller itself, when it may not
// impersonate the tenant), the apply never ran as the tenant and the
// check proves nothing.
func judgeRefusal(o Observation, p Pair, refused []refusal, want string, is func(user string) bool) model.Judgement {
	var others []string
	impersonate := false
	for _, r := range refused {
		if !is(r.User) {
			others = append(others, r.User+" (cannot "+r.Verb+")")
			impersonate = impersonate || r.Verb == "impersonate"
		}
	}
	switch {
	case len(refused) == 0:
		return model.Errored(fmt.Sprintf("Forbidden, but the message names no user, so it does not show %s refused: %s", want, o.String()))
	case impersonate:
		return model.Errored(fmt.Sprintf("Forbidden as %s, not as %s: the controller could not impersonate the tenant, so the check proves nothing: %s",
			strings.Join(others, ", "), want, o.String()))
	case len(others) > 0:
		return model.Errored(fmt.Sprintf("Forbidden as %s, not as %s: the apply did not run as the tenant, so the check proves nothing: %s",
			strings.Join(others, ", "), want, o.String()))
	}
	return model.Held("refused Forbidden as " + refused[0].User + "; nothing created in " + p.B)
}

// JudgeImpersonation: held when the apply is Forbidden as the Kustomization's
// serviceAccountName in tenant A, and nothing landed in tenant B.
func JudgeImpersonation(o Observation, p Pair, sa string) model.Judgement {
	if j, ok := leaked(o, p, "the reconciler is not confined to its namespace; "+o.String()); ok {
		return j
	}
	if sa == "" {
		return model.Errored("the check names no serviceAccountName to judge the refusal by")
	}
	want := kube.User(p.A, sa)
	if ok, refused := forbiddenAs(o.Ready); ok {
		return judgeRefusal(o, p, refused, want, func(user string) bool { return user == want })
	}
	if gateOff(o) {
		return model.Skipped(GateDisabled)
	}
	return inconclusive(o)
}

// JudgeDefaultServiceAccount: held when the apply without serviceAccountName
// is Forbidden as a service account of tenant A's namespace (the one
// --default-service-account names); broken when it applied, which means the
// controller used its own rights.
func JudgeDefaultServiceAccount(o Observation, p Pair, _ string) model.Judgement {
	if j, ok := leaked(o, p, "applied with the controller's own rights (no --default-service-account); "+o.String()); ok {
		return j
	}
	if ok, refused := forbiddenAs(o.Ready); ok {
		prefix := kube.User(p.A, "")
		return judgeRefusal(o, p, refused, "a service account of "+p.A, func(user string) bool { return strings.HasPrefix(user, prefix) })
	}
	if gateOff(o) {
		return model.Skipped(GateDisabled)
	}
	return inconclusive(o)
}
