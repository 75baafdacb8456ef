package graph

import (
	"context"

	"authz-gateway/access"
	"authz-gateway/apperr"
	"authz-gateway/reqctx"

	"github.com/99designs/gqlgen/graphql"
)

// hasPermission enforces @hasPermission: the viewer must hold the permission.
// Scope checks (which object) happen in the authz service.
func hasPermission(ctx context.Context, _ any, next graphql.Resolver, permission access.Permission) (any, error) {
	reach, err := reqctx.ReachFromContext(ctx)
	if err != nil {
		return nil, err
	}
	if !reach.Can(permission) {
		return nil, apperr.Errorf(apperr.Forbidden, "missing permission %s", permission)
	}
	return next(ctx)
}
