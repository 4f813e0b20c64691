package kube

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/tenantcheck/tenantcheck/internal/model"
)

// Classify is tenantcheck's one reading of the API server's answers: every
// layer classifies with it and only narrows which rejection counts as its own.
//
// The API server authorises a request before it looks at the object, so the
// status code of a refused request says which stage refused it:
//
//	401 Unauthorized                 authentication: the token was not accepted
//	403 Forbidden, "User ... cannot"  authorisation (RBAC, webhook, node): denied
//	403 Forbidden, other message     admission (Pod Security, quota, a webhook)
//	400, 404, 409, 422               the handler or validation: authorisation
//	                                 had already passed
//
// This is why a check may name an object that does not exist: a 404 for
// "get secret tc-no-such-secret" in another tenant's namespace proves the
// tenant was allowed to read secrets there, exactly as a 200 would.

// authzDenied matches the message of every authoriser's denial, written by
// the API server's responsewriters.Forbidden ("User %q cannot %s ..."), and
// of RBAC's own escalation check when a binding or role is created.
var authzDenied = regexp.MustCompile(`User ".*" cannot |is attempting to grant RBAC permissions not currently held`)

// GuardPolicy is the ValidatingAdmissionPolicy deploy/ ships to confine the
// in-cluster runner to the objects it marked.
const GuardPolicy = "tenantcheck-runner-guard"

// admissionMarkers appear in refusals written by admission plugins, after
// authorisation let the request through.
var admissionMarkers = []string{
	"violates PodSecurity",           // Pod Security Admission
	"exceeded quota", "failed quota", // ResourceQuota
	" usage per ", "limit to request ratio", // LimitRanger
	"admission webhook",              // validating and mutating webhooks
	"ValidatingAdmissionPolicy",      // CEL admission policies
	"because it is being terminated", // NamespaceLifecycle
	"no PriorityClass with name",     // Priority
}

// Classify classifies the API server's answer to one request a tenant
// identity sent, from the point of view of authorisation:
//
//   - nil: Admitted.
//   - 403 with an admission marker: Rejected: RBAC let it through and an
//     admission plugin stopped it, which for an RBAC check is a leak.
//   - 403 written by an authoriser: Forbidden.
//   - any other 403: Error. It is neither a recognisable authorisation
//     denial nor a known admission refusal, so it proves nothing either way.
//   - 400, 404, 409, 422: Admitted, because these come from the handler or
//     from validation, which run only after authorisation allowed the request.
//   - 401: Error, the token was rejected.
//   - anything else (network, timeout, 5xx, 429): Error with the message.
//
// The second value is the raw answer for the evidence: the HTTP status code
// and the API server's message. It never contains a token.
func Classify(err error) (model.APIOutcome, string) {
	if err == nil {
		return model.APIAdmitted, "2xx: admitted"
	}
	raw := StatusLine(err)
	switch {
	case strings.Contains(err.Error(), "ValidatingAdmissionPolicy '"+GuardPolicy+"'"):
		// tenantcheck's own guard (deploy/) is no control of the tenant's:
		// its refusal must never read as one.
		return model.APIError, "refused by tenantcheck's own guard " + GuardPolicy + ", not by a control of the cluster's (check deploy/'s tenantLabel and the namespace's labels): " + raw
	case policyDenial(err.Error()):
		// A ValidatingAdmissionPolicy answers 422 Invalid unless its
		// validation names another reason, and a webhook picks its own
		// code: their denial is an admission refusal whatever the code.
		return model.APIRejected, raw
	case apierrors.IsForbidden(err) && AdmissionRefusal(err.Error()):
		return model.APIRejected, raw
	case apierrors.IsForbidden(err) && authzDenied.MatchString(err.Error()):
		return model.APIForbidden, raw
	case apierrors.IsForbidden(err):
		return model.APIError, "forbidden, but neither by an authoriser nor by a known admission plugin: " + raw
	case apierrors.IsUnauthorized(err):
		return model.APIError, "token rejected: " + raw
	case apierrors.IsNotFound(err), apierrors.IsInvalid(err), apierrors.IsAlreadyExists(err),
		apierrors.IsBadRequest(err), apierrors.IsConflict(err):
		return model.APIAdmitted, "authorised, then " + raw
	}
	return model.APIError, raw
}

// ClassifyImpersonation reads the answer to a request sent with an
// impersonation header. The impersonation filter runs before the request is
// authorised as the impersonated user, so a 403 that is not about
// impersonating means the header was accepted: the identity may act as
// someone else, who then happened to lack the right for this one request.
func ClassifyImpersonation(err error) (model.APIOutcome, string) {
	got, raw := Classify(err)
	if got == model.APIForbidden && !strings.Contains(err.Error(), "cannot impersonate") {
		return model.APIAdmitted, "impersonation accepted, then " + raw
	}
	return got, raw
}

// policyDenial reports whether msg is a ValidatingAdmissionPolicy's or an
// admission webhook's denial, as the API server writes them.
func policyDenial(msg string) bool {
	return (strings.Contains(msg, "ValidatingAdmissionPolicy '") && strings.Contains(msg, "denied request")) ||
		(strings.Contains(msg, `admission webhook "`) && strings.Contains(msg, "denied the request"))
}

// AdmissionRefusal reports whether msg is an admission plugin's refusal.
func AdmissionRefusal(msg string) bool {
	for _, m := range admissionMarkers {
		if strings.Contains(msg, m) {
			return true
		}
	}
	return false
}

// StatusLine is "403 Forbidden: <message>" for an API status error, else
// the error's text.
func StatusLine(err error) string {
	var s apierrors.APIStatus
	if errors.As(err, &s) {
		st := s.Status()
		return fmt.Sprintf("%d %s: %s", st.Code, st.Reason, st.Message)
	}
	return err.Error()
}
