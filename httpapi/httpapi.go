// Package httpapi builds the gateway's HTTP surface: routes, request IDs,
// body limits, the GraphQL-over-HTTP method and media-type rules, CORS, the
// playground, health and readiness probes and metrics. It knows nothing of
// the domain: the GraphQL endpoint is handed to it ready-made.
package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/99designs/gqlgen/graphql/playground"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config is what the handler needs.
type Config struct {
	// GraphQL serves /graphql: the GraphQL endpoint behind authentication,
	// rate limiting and loaders (the app composes them).
	GraphQL http.Handler
	// Playground serves GraphiQL at / (development).
	Playground bool
	// MaxBodyBytes limits request bodies (default 1 MiB).
	MaxBodyBytes int64
	// Ready reports whether dependencies answer (for /readyz).
	Ready func(ctx context.Context) map[string]error
	// Metrics is the registry /metrics serves.
	Metrics *prometheus.Registry
	// CORSOrigins may call /graphql from browsers on other origins.
	CORSOrigins []string
}

// New returns the gateway's HTTP handler.
func New(cfg Config) http.Handler {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	mux := http.NewServeMux()
	gql := getMutationIs405(cfg.GraphQL)
	mux.Handle("/graphql", withCORS(cfg.CORSOrigins, withHTTPRules(withBodyLimit(cfg.MaxBodyBytes, gql))))
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
