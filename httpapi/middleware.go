package httpapi

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"regexp"

	"authz-gateway/auth"
	"authz-gateway/authz"
	"authz-gateway/ent"
	"authz-gateway/loaders"
	"authz-gateway/reqctx"
	"time"
)

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// withRequestID takes a sane X-Request-ID from the client or makes one, puts
// it in the context and echoes it, so logs and client reports line up.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-ID")
		if !requestIDPattern.MatchString(id) {
			var b [8]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-ID", id)
		next.ServeHTTP(w, r.WithContext(reqctx.NewContextWithRequestID(r.Context(), id)))
	})
}

// withBodyLimit caps request bodies; gqlgen answers an oversized body with a
// 4xx error.
func withBodyLimit(limit int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > limit {
			http.Error(w, `{"errors":[{"message":"request body too large","extensions":{"code":"BAD_USER_INPUT"}}]}`, http.StatusRequestEntityTooLarge)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		next.ServeHTTP(w, r)
	})
}

// withViewer authenticates the request and gives it fresh loaders, primed
// with the viewer.
func withViewer(authn *auth.Authenticator, db *ent.Client, svc *authz.Service, wait time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, reason := authn.Authenticate(r)
		ctx := auth.ContextWithUser(r.Context(), u, reason)
		l := loaders.New(db, svc, wait)
		if u != nil {
			l.PrimeUser(u)
		}
		next.ServeHTTP(w, r.WithContext(loaders.NewContext(ctx, l)))
	})
}

// getMutationIs405 makes a mutation sent over GET answer 405 Method Not
// Allowed (gqlgen says 406), as DESIGN section 6 asks.
func getMutationIs405(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			w = &rewrite406{ResponseWriter: w}
		}
		next.ServeHTTP(w, r)
	})
}

type rewrite406 struct{ http.ResponseWriter }

func (w *rewrite406) WriteHeader(code int) {
	if code == http.StatusNotAcceptable {
		w.Header().Set("Allow", "POST")
		code = http.StatusMethodNotAllowed
	}
	w.ResponseWriter.WriteHeader(code)
}
