package graph

import (
	"context"

	"authz-gateway/answers"
	"authz-gateway/apperr"
	"authz-gateway/authz"
	"authz-gateway/cache"
	"authz-gateway/ent"
	"authz-gateway/freshness"
	"authz-gateway/loaders"
	"authz-gateway/reqctx"

	"github.com/99designs/gqlgen/graphql"
	"github.com/prometheus/client_golang/prometheus"
)

// Resolver is the root resolver. It holds dependencies only: queries hand off
// to ent (root connections) or the request's loaders (fields and edges), and
// mutations to the authz service.
type Resolver struct {
	db            *ent.Client
	authz         *authz.Service
	answers       *answers.Source
	log           *freshness.Log
	cache         *cache.Cache
	metrics       prometheus.Gatherer
	subscriptions *subscriptionCounts
}

// Services are what the resolvers hand work to.
type Services struct {
	DB    *ent.Client
	Authz *authz.Service
	// Answers reads users' answers (a subscription's own loaders).
	Answers *answers.Source
	// Log is the access-change log: accessChanged watches users through it.
	Log *freshness.Log
	// Cache is what cacheStats reports on, with the latencies and Redis
	// figures of Metrics (nil: none).
	Cache   *cache.Cache
	Metrics prometheus.Gatherer
}

// NewResolver returns the root resolver over s.
func NewResolver(s Services) *Resolver {
	return &Resolver{db: s.DB, authz: s.Authz, answers: s.Answers, log: s.Log, cache: s.Cache, metrics: s.Metrics, subscriptions: &subscriptionCounts{}}
}

// NewSchema returns the executable schema over s.
func NewSchema(s Services) graphql.ExecutableSchema {
	return NewSchemaWith(NewResolver(s))
}

// NewSchemaWith returns the executable schema over any resolver root: the
// benchmarks use it to compare the loaders with a naive per-user path.
func NewSchemaWith(root ResolverRoot) graphql.ExecutableSchema {
	return NewExecutableSchema(Config{
		Resolvers:  root,
		Directives: DirectiveRoot{HasPermission: hasPermission},
		Complexity: complexity(),
	})
}

// GuardRootFields is a root-field middleware: every root field except
// introspection needs an authenticated viewer, and introspection needs to be
// enabled. Failing here, once, keeps resolvers free of the check and gives one
// clear error with its code.
func GuardRootFields(ctx context.Context, next graphql.RootResolver) graphql.Marshaler {
	field := graphql.GetRootFieldContext(ctx).Field.Name
	switch {
	case field == "__schema" || field == "__type":
		if graphql.GetOperationContext(ctx).DisableIntrospection {
			graphql.AddError(ctx, apperr.Errorf(apperr.BadUserInput, "introspection is disabled on this server"))
			return graphql.Null
		}
		return next(ctx)
	case field == "__typename":
		return next(ctx)
	}
	if err := reqctx.RequireViewer(ctx); err != nil {
		graphql.AddError(ctx, err)
		return graphql.Null
	}
	return next(ctx)
}

// ForgetAfterMutation clears the request's loaders after each mutation field
// resolves, so the fields of its result (and later mutations of the same
// operation) read the world as it is after the write. (The viewer's reach is
// refreshed by the authz service itself, after every commit.)
func ForgetAfterMutation(ctx context.Context, next graphql.Resolver) (any, error) {
	fc := graphql.GetFieldContext(ctx)
	res, err := next(ctx)
	if fc != nil && fc.Object == "Mutation" && fc.IsResolver {
		loaders.For(ctx).Forget()
	}
	return res, err
}
