package kube

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/tenantcheck/tenantcheck/internal/model"
)

var (
	secrets = schema.GroupResource{Resource: "secrets"}
	pods    = schema.GroupResource{Resource: "pods"}
)

// denied is the message the API server writes when an authoriser says no.
func denied(user, verb, resource, ns string) error {
	return fmt.Errorf(`User %q cannot %s resource %q in API group "" in the namespace %q`, user, verb, resource, ns)
}

func TestOutcome(t *testing.T) {
	sa := "system:serviceaccount:tenant-a-x1:tenant-reconciler"
	tests := []struct {
		name string
		err  error
		want model.APIOutcome
		raw  string
	}{
		{"success", nil, model.APIAdmitted, "admitted"},
		{"rbac denies", apierrors.NewForbidden(secrets, "", denied(sa, "list", "secrets", "tenant-b-x1")),
			model.APIForbidden, `403 Forbidden: secrets is forbidden: User "` + sa + `" cannot list`},
		{"rbac denies, wrapped", fmt.Errorf("list secrets: %w", apierrors.NewForbidden(secrets, "", denied(sa, "list", "secrets", "b"))),
			model.APIForbidden, "403 Forbidden"},
		{"escalation check denies", apierrors.NewForbidden(schema.GroupResource{Group: "rbac.authorization.k8s.io", Resource: "rolebindings"}, "x",
			errors.New(`user "`+sa+`" (groups=["system:serviceaccounts"]) is attempting to grant RBAC permissions not currently held`)),
			model.APIForbidden, "attempting to grant"},
		{"quota refuses after rbac", apierrors.NewForbidden(pods, "p", errors.New("exceeded quota: tenant-b-quota, requested: pods=1, used: pods=100, limited: pods=100")),
			model.APIRejected, "exceeded quota"},
		{"pod security refuses after rbac", apierrors.NewForbidden(pods, "p", errors.New(`violates PodSecurity "restricted:latest": privileged`)),
			model.APIRejected, "violates PodSecurity"},
		{"webhook refuses after rbac", apierrors.NewForbidden(pods, "p", errors.New(`admission webhook "deny.example.com" denied the request: no`)),
			model.APIRejected, "admission webhook"},
		// A ValidatingAdmissionPolicy answers 422 unless told otherwise: its
		// denial is still admission's, not a validation error.
		{"admission policy refuses with 422", apierrors.NewInvalid(schema.GroupKind{Kind: "Pod"}, "p", field.ErrorList{field.Forbidden(field.NewPath(""),
			`ValidatingAdmissionPolicy 'no-hostpath' with binding 'no-hostpath' denied request: hostPath volumes are not allowed`)}),
			model.APIRejected, "ValidatingAdmissionPolicy 'no-hostpath'"},
		// deploy/'s guard confines tenantcheck itself: its refusal is no
		// control of the cluster's, in any layer.
		{"tenantcheck's own guard refuses", apierrors.NewForbidden(pods, "p", errors.New(
			`ValidatingAdmissionPolicy 'tenantcheck-runner-guard' with binding 'tenantcheck-runner-guard' denied request: only marked objects`)),
			model.APIError, "refused by tenantcheck's own guard"},
		{"webhook refuses with 400", apierrors.NewBadRequest(`admission webhook "deny.example.com" denied the request: no`),
			model.APIRejected, "admission webhook"},
		{"unrecognised 403 proves nothing", apierrors.NewForbidden(pods, "p", errors.New("some proxy said no")),
			model.APIError, "neither by an authoriser nor by a known admission plugin"},
		{"not found is authorised", apierrors.NewNotFound(secrets, "tc-rbac-no-such-secret"),
			model.APIAdmitted, "authorised, then 404 NotFound"},
		{"invalid is authorised", apierrors.NewInvalid(schema.GroupKind{Kind: "ConfigMap"}, "x", field.ErrorList{field.Required(field.NewPath("data"), "")}),
			model.APIAdmitted, "authorised, then 422 Invalid"},
		{"already exists is authorised", apierrors.NewAlreadyExists(secrets, "x"), model.APIAdmitted, "409 AlreadyExists"},
		{"exec without upgrade is authorised", apierrors.NewBadRequest("Upgrade request required"), model.APIAdmitted, "400 BadRequest"},
		{"token rejected", apierrors.NewUnauthorized("Unauthorized"), model.APIError, "token rejected: 401"},
		{"server error", apierrors.NewInternalError(errors.New("etcd down")), model.APIError, "500"},
		{"network error", errors.New("dial tcp 10.0.0.1:6443: connect: connection refused"), model.APIError, "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, raw := Classify(tt.err)
			assert.Equal(t, tt.want, got)
			assert.Contains(t, raw, tt.raw)
		})
	}
}

func TestImpersonationOutcome(t *testing.T) {
	sa := "system:serviceaccount:tenant-a-x1:default"
	refused := apierrors.NewForbidden(schema.GroupResource{Resource: "users"}, "system:admin",
		fmt.Errorf(`User %q cannot impersonate resource "users" in API group "" at the cluster scope`, sa))
	got, _ := ClassifyImpersonation(refused)
	assert.Equal(t, model.APIForbidden, got, "the impersonation header was refused")

	// The header was accepted; system:admin then lacked the right to list.
	asAdmin := apierrors.NewForbidden(schema.GroupResource{Resource: "configmaps"}, "",
		denied("system:admin", "list", "configmaps", "tenant-a-x1"))
	got, raw := ClassifyImpersonation(asAdmin)
	assert.Equal(t, model.APIAdmitted, got)
	assert.Contains(t, raw, "impersonation accepted")

	got, _ = ClassifyImpersonation(nil)
	assert.Equal(t, model.APIAdmitted, got)
	got, _ = ClassifyImpersonation(apierrors.NewUnauthorized("Unauthorized"))
	assert.Equal(t, model.APIError, got)
}
