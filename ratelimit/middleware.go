package ratelimit

import (
	"net"
	"net/http"
	"strconv"
	"time"

	"authz-gateway/reqctx"
)

// Middleware spends one request of the caller's budget before anything else
// runs (no database, no GraphQL): per user for a verified token (see
// auth.VerifyToken, which must run first), per client IP otherwise. A request
// over budget is answered by reject.
func Middleware(l *Limiter, reject func(w http.ResponseWriter, retryAfter time.Duration)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if l == nil || !l.Enabled() {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if d := l.Allow(r.Context(), callerKey(r)); !d.Allowed {
				reject(w, d.RetryAfter)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func callerKey(r *http.Request) string {
	if id, ok := reqctx.SubjectFromContext(r.Context()); ok {
		return "user:" + strconv.Itoa(id)
	}
	return "ip:" + clientIP(r)
}

// clientIP is the connection's remote address. X-Forwarded-For is not
// trusted: behind a proxy, rate limits apply per proxy (README, Security).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
