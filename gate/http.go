package gate

import (
	"errors"
	"net/http"
	"time"

	"authz-gateway/auth"
	"authz-gateway/reqctx"
)

// Middleware admits every request through g before anything reads its body.
// A request over its rate limit is answered by refuse. An authentication
// failure does not end the request: it is recorded for RequireViewer, so
// GraphQL still answers what needs no viewer ({ __typename }) and reports
// the failure, coded, on the first field that needs one.
func Middleware(g *Gate, refuse func(w http.ResponseWriter, retryAfter time.Duration)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx, _, err := g.Admit(r.Context(), Credentials{
				Authorization: r.Header.Get("Authorization"),
				ClientIP:      ClientIP(r.RemoteAddr),
			})
			var limited *RateLimitError
			switch {
			case errors.As(err, &limited):
				refuse(w, limited.RetryAfter)
				return
			case err != nil:
				ctx = reqctx.NewContextWithAuthFailure(ctx, err)
			}
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// LimitUpgrades spends the caller's address budget for each socket it
// opens, answering refuse when it is spent. That is all an upgrade passes:
// the token comes later, in connection_init, and each operation on the
// socket is admitted then (graph's socket transport), so nothing is
// resolved twice.
func LimitUpgrades(g *Gate, refuse func(w http.ResponseWriter, retryAfter time.Duration)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var limited *RateLimitError
			if err := g.spend(r.Context(), limitKey(auth.Identity{}, ClientIP(r.RemoteAddr))); errors.As(err, &limited) {
				refuse(w, limited.RetryAfter)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
