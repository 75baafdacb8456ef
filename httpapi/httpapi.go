// Package httpapi builds the gateway's HTTP surface: routes, request IDs,
// body limits, the GraphQL-over-HTTP method and media-type rules, CORS, the
// playground, health and readiness probes and metrics. It knows nothing of
// the domain: the GraphQL endpoint is handed to it ready-made.
package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"time"

	"authz-gateway/httpapi/dashboard"
	"authz-gateway/httpapi/playground"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config is what the handler needs.
type Config struct {
	// GraphQL serves /graphql: the GraphQL endpoint behind authentication,
	// rate limiting and loaders (the app composes them).
	GraphQL http.Handler
	// Sockets serves the websocket upgrades of /graphql (subscriptions;
	// nil: none, an upgrade is then an ordinary request).
	Sockets http.Handler
	// Playground serves GraphiQL at / (development).
	Playground bool
	// MaxBodyBytes limits request bodies (default 1 MiB).
	MaxBodyBytes int64
	// RequestTimeout is every /graphql request's deadline (default 10 s).
	RequestTimeout time.Duration
	// MaxInFlight bounds the /graphql requests served at once (0: no
	// bound); past it a request waits InFlightWait at most, then is refused.
	MaxInFlight int
	// Ready reports whether dependencies answer (for /readyz).
	Ready func(ctx context.Context) map[string]error
	// Metrics is the registry /metrics serves.
	Metrics *prometheus.Registry
	// CORSOrigins may call /graphql from browsers on other origins.
	CORSOrigins []string
	// Dashboard serves the cache dashboard page at /dashboard (its data
	// is GraphQL: cacheStats, accessChanges).
	Dashboard bool
	// SchemaSDL, if set, is served at /schema.graphql (development: for
	// code generators that do not introspect).
	SchemaSDL []byte
}

// New returns the gateway's HTTP handler.
func New(cfg Config) http.Handler {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	mux := http.NewServeMux()
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 10 * time.Second
	}
	gql := withCORS(cfg.CORSOrigins, withHTTPRules(withInFlightLimit(cfg.MaxInFlight, withBodyLimit(cfg.MaxBodyBytes,
		withDeadline(cfg.RequestTimeout, getMutationIs405(cfg.GraphQL))))))
	mux.Handle("/graphql", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if cfg.Sockets != nil && IsWebSocket(r) {
			// A subscription lives as long as its connection: no request
			// deadline, and the connection is hijacked, so nothing may wrap
			// the response writer. This is the one place a request is
			// told apart as a socket.
			cfg.Sockets.ServeHTTP(w, r)
			return
		}
		// Another Upgrade (h2c, which curl --http2 offers) is declined by
		// ignoring it, as HTTP/1.1 allows: the request is served as sent.
		if r.Header.Get("Upgrade") != "" {
			r = r.Clone(r.Context())
			r.Header.Del("Upgrade")
		}
		gql.ServeHTTP(w, r)
	}))
	if cfg.Playground {
		playground.Register(mux)
	}
	if cfg.Dashboard {
		dashboard.Register(mux)
	}
	if cfg.SchemaSDL != nil {
		mux.HandleFunc("GET /schema.graphql", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/graphql; charset=utf-8")
			_, _ = w.Write(cfg.SchemaSDL)
		})
	}
	// Browsers ask every origin for an icon: one small image, not a 404 in
	// every console and access log.
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "image/svg+xml")
		w.Header().Set("Cache-Control", "public, max-age=86400")
		_, _ = io.WriteString(w, favicon)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", readyHandler(cfg.Ready))
	if cfg.Metrics != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Metrics, promhttp.HandlerOpts{}))
	}
	return withRequestID(mux)
}

// readyHandler answers within readyTimeout whatever the dependencies do: a
// check that has not answered by then counts as unavailable (503).
func readyHandler(ready func(ctx context.Context) map[string]error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		status, code := map[string]string{"checks": "unavailable"}, http.StatusServiceUnavailable
		if ready == nil {
			writeJSON(w, http.StatusOK, map[string]string{})
			return
		}
		done := make(chan map[string]error, 1)
		go func() { done <- ready(ctx) }()
		select {
		case results := <-done:
			status, code = map[string]string{}, http.StatusOK
			for name, err := range results {
				status[name] = "ok"
				if err != nil {
					status[name] = "unavailable"
					code = http.StatusServiceUnavailable
				}
			}
		case <-ctx.Done():
		}
		writeJSON(w, code, status)
	}
}

// readyTimeout bounds /readyz.
const readyTimeout = 2 * time.Second

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// favicon is a key, the gateway's mark.
const favicon = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="5" cy="8" r="3.5" fill="none" stroke="#1565c0" stroke-width="2"/><path d="M8.5 8H15M13 8v3M11 8v2" stroke="#1565c0" stroke-width="2" fill="none"/></svg>`
