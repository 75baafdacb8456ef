package graph

import (
	"context"

	"authz-gateway/access"
	"authz-gateway/apperr"
	"authz-gateway/reqctx"

	"github.com/99designs/gqlgen/graphql"
)

// hasPermission is @hasPermission. On reads it is the gate: the viewer must
// hold the permission (which objects, the privacy rules decide). On
// mutations it declares the permission to clients and code generators and
// checks nothing: the authz service is every write's one gate (permission
// and scope together, for the Go API as for GraphQL).
func hasPermission(ctx context.Context, _ any, next graphql.Resolver, permission access.Permission) (any, error) {
	if fc := graphql.GetFieldContext(ctx); fc != nil && fc.Object == "Mutation" {
		return next(ctx)
	}
	reach, err := reqctx.ReachFromContext(ctx)
	if err != nil {
		return nil, err
	}
	if !reach.Can(permission) {
		return nil, apperr.Errorf(apperr.Forbidden, "missing permission %s", permission)
	}
	return next(ctx)
}
