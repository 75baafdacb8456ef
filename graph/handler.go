package graph

import (
	"context"
	"errors"
	"net/http"

	"authz-gateway/apperr"
	"authz-gateway/gate"
	"authz-gateway/httpapi"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/ravilushqa/otelgqlgen"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Limits bound what one operation may ask for.
type Limits struct {
	MaxDepth      int // default 15
	MaxComplexity int // default 100000
	MaxAliases    int // default 30
	MaxTokens     int // parser tokens, default 5000
	MaxFields     int // field selections, each fragment once, default 500
	// MaxResponseBytes refuses a larger answer (its data), default 10 MiB.
	MaxResponseBytes int
}

// The default limits (README, Security).
const (
	DefaultMaxDepth         = 15
	DefaultMaxComplexity    = 100_000
	DefaultMaxAliases       = 30
	DefaultMaxTokens        = 5000
	DefaultMaxFields        = 500
	DefaultMaxResponseBytes = 10 << 20
)

func (l Limits) withDefaults() Limits {
	orDefault := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	orDefault(&l.MaxDepth, DefaultMaxDepth)
	orDefault(&l.MaxComplexity, DefaultMaxComplexity)
	orDefault(&l.MaxAliases, DefaultMaxAliases)
	orDefault(&l.MaxTokens, DefaultMaxTokens)
	orDefault(&l.MaxFields, DefaultMaxFields)
	orDefault(&l.MaxResponseBytes, DefaultMaxResponseBytes)
	return l
}

// HandlerConfig configures the GraphQL endpoint.
type HandlerConfig struct {
	// Gate admits every operation: each HTTP request before its body is
	// read, each operation on a socket (required).
	Gate *gate.Gate
	// Introspection is for development (GATEWAY_ENV=development).
	Introspection bool
	Limits        Limits
	// PersistedQueries stores automatic persisted queries (nil: in-process).
	PersistedQueries graphql.Cache[string]
	// Schema replaces the standard executable schema (benchmarks only).
	Schema graphql.ExecutableSchema
	// Sockets serves subscriptions over graphql-ws; nil: none.
	Sockets *SocketConfig
	// Traced adds OpenTelemetry spans for operations and the fields that
	// resolve (the process's tracer provider).
	Traced bool
}

// Handlers are the GraphQL endpoint: HTTP requests, and socket upgrades
// (nil without sockets). The route sends each request to one of them
// (httpapi decides, once, whether a request opens a socket).
type Handlers struct {
	HTTP, Sockets http.Handler
}

// NewHandler returns the GraphQL endpoint over s: GET and POST transports,
// and graphql-ws for subscriptions, a parsed-query cache, persisted
// queries, limits, the viewer requirement, the viewer's reach per operation
// and the error presenter. Every HTTP request passes cfg.Gate before
// anything reads its body (gate.Middleware); socket operations pass it one
// by one (the socket transport). There is no endpoint without the gate.
func NewHandler(s Services, cfg HandlerConfig) (Handlers, error) {
	if cfg.Gate == nil || s.Authz == nil || s.Answers == nil || s.Log == nil {
		return Handlers{}, errors.New("graph: a handler needs its gate, the authz service, the answers and the access-change log")
	}
	schema := cfg.Schema
	if schema == nil {
		schema = NewSchema(s)
	}
	apq := cfg.PersistedQueries
	if apq == nil {
		apq = lru.New[string](1000)
	}
	parsed := lru.New[*ast.QueryDocument](1000)
	h := Handlers{HTTP: gate.Middleware(cfg.Gate, httpapi.TooManyRequests)(overHTTP(
		newServer(schema, cfg, apq, parsed, transport.GET{}, transport.POST{})))}
	if cfg.Sockets != nil {
		h.Sockets = gate.LimitUpgrades(cfg.Gate, httpapi.TooManyRequests)(
			newServer(schema, cfg, apq, parsed, newSocketTransport(*cfg.Sockets, cfg.Gate, s.Log)))
	}
	return h, nil
}

// newServer is gqlgen's server over transports with the gateway's
// extensions and middlewares, the same for every transport.
func newServer(schema graphql.ExecutableSchema, cfg HandlerConfig, apq graphql.Cache[string],
	parsed graphql.Cache[*ast.QueryDocument], transports ...graphql.Transport) *handler.Server {
	limits := cfg.Limits.withDefaults()
	srv := handler.New(schema)
	for _, t := range transports {
		srv.AddTransport(t)
	}
	srv.SetQueryCache(parsed)
	srv.SetParserTokenLimit(limits.MaxTokens)
	guard := newDocumentGuard(limits)
	srv.Use(extension.AutomaticPersistedQuery{Cache: validatedQueries{Cache: apq, guard: guard, schema: schema.Schema()}})
	// After the persisted-query extension, which may supply the query.
	srv.Use(guard)
	if cfg.Introspection {
		srv.Use(extension.Introspection{})
	} else {
		srv.SetDisableSuggestion(true) // "Did you mean ..." would describe the schema
	}
	srv.Use(complexityLimit{max: limits.MaxComplexity, es: schema})
	srv.Use(singleStream{})
	if cfg.Traced {
		srv.Use(otelgqlgen.Middleware())
	}
	srv.AroundOperations(answerTimedOut)
	srv.AroundResponses(capErrors)
	srv.AroundResponses(capSize(limits.MaxResponseBytes))
	srv.AroundRootFields(GuardRootFields)
	srv.AroundFields(StopAtDeadline)
	srv.AroundFields(ForgetAfterMutation)
	srv.SetErrorPresenter(PresentError)
	srv.SetRecoverFunc(Recover)
	return srv
}

// answerTimedOut answers a query or mutation whose deadline passed before
// it ran (a slow admission: the token's keys, the viewer's lookup) with a
// coded error. gqlgen's executor answers nothing at all then (nil, the end
// of a stream), which the HTTP transport writes as a bare `null`.
// Subscriptions keep that nil: it is how their stream ends.
func answerTimedOut(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	responses := next(ctx)
	oc := graphql.GetOperationContext(ctx)
	if oc.Operation != nil && oc.Operation.Operation == ast.Subscription {
		return responses
	}
	answered := false
	return func(ctx context.Context) *graphql.Response {
		resp := responses(ctx)
		if resp == nil && !answered && ctx.Err() != nil {
			resp = &graphql.Response{Errors: gqlerror.List{PresentError(ctx, ranOutOfTime(ctx.Err()))}}
		}
		answered = true
		return resp
	}
}

// msgRanOutOfTime is what a client is told of work the request's deadline
// stopped.
const msgRanOutOfTime = "the request ran out of time (REQUEST_TIMEOUT); ask for less, or retry"

// ranOutOfTime is the error of work stopped by the request's deadline.
func ranOutOfTime(err error) error { return apperr.Wrap(apperr.Unavailable, err, msgRanOutOfTime) }

// capSize refuses an answer whose data is larger than max bytes: the
// client asked for too much (the cost limit bounds how much can be built;
// this bounds what is sent).
func capSize(max int) graphql.ResponseMiddleware {
	return func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
		resp := next(ctx)
		if resp != nil && len(resp.Data) > max {
			return &graphql.Response{Errors: gqlerror.List{limitError(
				"the answer would be %d bytes, over the limit of %d; ask for less (use the connections' pages)", len(resp.Data), max)}}
		}
		return resp
	}
}

// StopAtDeadline is a field middleware: once the request's deadline has
// passed (or the client went away), no further field resolves, so the
// deadline stops the work itself, not only the database calls in it.
func StopAtDeadline(ctx context.Context, next graphql.Resolver) (any, error) {
	if err := ctx.Err(); err != nil {
		return nil, ranOutOfTime(err)
	}
	return next(ctx)
}

// MaxErrors caps the errors of one response: a query that fails on many
// fields gets the first ones and a count, not megabytes. (Errors found
// before execution are bounded by the document limits.)
const MaxErrors = 50

func capErrors(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	if resp != nil && len(resp.Errors) > MaxErrors {
		omitted := len(resp.Errors) - MaxErrors
		resp.Errors = append(resp.Errors[:MaxErrors:MaxErrors], limitError("%d more errors omitted", omitted))
	}
	return resp
}
