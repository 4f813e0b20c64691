package kube

import (
	"context"
	"fmt"
	"strings"

	authv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func isUnauthorized(err error) bool { return apierrors.IsUnauthorized(err) }

// Permission is one verb on one resource the runner needs.
type Permission struct {
	Verb, Group, Resource, Subresource string
	// Namespace scopes the check; empty means cluster-wide (all namespaces).
	Namespace string
	// Name is the object's name, for rules limited by resourceNames.
	Name string
}

func (p Permission) String() string {
	r := p.Resource
	if p.Subresource != "" {
		r += "/" + p.Subresource
	}
	if p.Group != "" {
		r += "." + p.Group
	}
	s := p.Verb + " " + r
	if p.Name != "" {
		s += " (name " + p.Name + ")"
	}
	if p.Namespace != "" {
		s += " in namespace " + p.Namespace
	}
	return s
}

// CheckPermissions asks the API server, with SelfSubjectAccessReviews,
// whether the runner may do each of perms, and returns those it may not.
func (c *Client) CheckPermissions(ctx context.Context, perms []Permission) ([]Permission, error) {
	var missing []Permission
	for _, p := range perms {
		review := &authv1.SelfSubjectAccessReview{Spec: authv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authv1.ResourceAttributes{
				Namespace: p.Namespace, Verb: p.Verb, Group: p.Group, Resource: p.Resource, Subresource: p.Subresource, Name: p.Name,
			},
		}}
		got, err := c.Clientset.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
		if err != nil {
			return nil, Explain(err, "check permission "+p.String())
		}
		if !got.Status.Allowed {
			missing = append(missing, p)
		}
	}
	return missing, nil
}

// MissingPermissionsError names every missing permission in one line.
func MissingPermissionsError(missing []Permission) error {
	names := make([]string, len(missing))
	for i, p := range missing {
		names[i] = p.String()
	}
	return fmt.Errorf("missing permission: the kubeconfig's user may not %s", strings.Join(names, ", "))
}
