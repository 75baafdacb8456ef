// Package httpapi builds the gateway's HTTP handler: the GraphQL endpoint with
// its transports, limits and error presentation, the playground, health and
// readiness probes and metrics.
package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"authz-gateway/auth"
	"authz-gateway/authz"
	"authz-gateway/ent"
	"authz-gateway/graph"
	"authz-gateway/loaders"
	"authz-gateway/ratelimit"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/99designs/gqlgen/graphql/playground"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/vektah/gqlparser/v2/ast"
)

// Limits bound what one request may ask for.
type Limits struct {
	MaxDepth      int   // default 15
	MaxComplexity int   // default 100000
	MaxAliases    int   // default 30
	MaxBodyBytes  int64 // default 1 MiB
}

func (l Limits) withDefaults() Limits {
	if l.MaxDepth <= 0 {
		l.MaxDepth = 15
	}
	if l.MaxComplexity <= 0 {
		l.MaxComplexity = 100_000
	}
	if l.MaxAliases <= 0 {
		l.MaxAliases = 30
	}
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = 1 << 20
	}
	return l
}

// Config is what the handler needs.
type Config struct {
	DB     *ent.Client
	Authz  *authz.Service
	Tokens *auth.Tokens
	// Introspection and Playground are for development (GATEWAY_ENV=development).
	Introspection bool
	Playground    bool
	Limits        Limits
	// LoaderWait is the dataloader batching window (default loaders.DefaultWait).
	LoaderWait time.Duration
	// Ready reports whether dependencies answer (for /readyz).
	Ready func(ctx context.Context) map[string]error
	// Metrics is the registry /metrics serves.
	Metrics *prometheus.Registry
	// Schema replaces the standard executable schema (benchmarks only).
	Schema graphql.ExecutableSchema
	// RateLimiter limits requests per viewer (nil: no limit).
	RateLimiter *ratelimit.Limiter
	// PersistedQueries stores automatic persisted queries (nil: in-process).
	PersistedQueries graphql.Cache[string]
	// CORSOrigins may call /graphql from browsers on other origins.
	CORSOrigins []string
}

// New returns the gateway's HTTP handler.
func New(cfg Config) http.Handler {
	cfg.Limits = cfg.Limits.withDefaults()
	if cfg.LoaderWait <= 0 {
		cfg.LoaderWait = loaders.DefaultWait
	}
	mux := http.NewServeMux()
	gql := withViewer(auth.NewAuthenticator(cfg.Tokens, cfg.DB), cfg.RateLimiter, cfg.DB, cfg.Authz, cfg.LoaderWait,
		getMutationIs405(newGraphQL(cfg)))
	mux.Handle("/graphql", withCORS(cfg.CORSOrigins, withHTTPRules(withBodyLimit(cfg.Limits.MaxBodyBytes, gql))))
	if cfg.Playground {
		mux.Handle("GET /{$}", playground.Handler("authz-gateway", "/graphql"))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", readyHandler(cfg.Ready))
	if cfg.Metrics != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Metrics, promhttp.HandlerOpts{}))
	}
	return withRequestID(mux)
}

// newGraphQL configures gqlgen: GET and POST transports only, a parsed-query
// cache, limits, the viewer requirement and the error presenter.
func newGraphQL(cfg Config) http.Handler {
	schema := cfg.Schema
	if schema == nil {
		schema = graph.NewSchema(cfg.DB, cfg.Authz)
	}
	srv := handler.New(schema)
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	apq := cfg.PersistedQueries
	if apq == nil {
		apq = lru.New[string](1000)
	}
	srv.Use(extension.AutomaticPersistedQuery{Cache: apq})
	if cfg.Introspection {
		srv.Use(extension.Introspection{})
	}
	srv.Use(shapeLimit{maxDepth: cfg.Limits.MaxDepth, maxAliases: cfg.Limits.MaxAliases})
	srv.Use(extension.FixedComplexityLimit(cfg.Limits.MaxComplexity))
	srv.AroundOperations(graph.PrefetchViewer)
	srv.AroundRootFields(graph.GuardRootFields)
	srv.AroundFields(graph.ForgetAfterMutation)
	srv.SetErrorPresenter(graph.PresentError)
	srv.SetRecoverFunc(graph.Recover)
	return srv
}

func readyHandler(ready func(ctx context.Context) map[string]error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		status, code := map[string]string{}, http.StatusOK
		if ready != nil {
			for name, err := range ready(ctx) {
				status[name] = "ok"
				if err != nil {
					status[name] = "unavailable"
					code = http.StatusServiceUnavailable
				}
			}
		}
		writeJSON(w, code, status)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
