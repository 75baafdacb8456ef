package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"authz-gateway/apperr"
	"authz-gateway/reqctx"
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

// withDeadline gives every request's work a deadline: a request can never
// keep the gateway busy for longer.
func withDeadline(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// withBodyLimit caps request bodies: a larger body is answered 413 before
// anything parses it. The body is read here (gqlgen reads it whole anyway).
func withBodyLimit(limit int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > limit {
			writeGraphQLError(w, http.StatusRequestEntityTooLarge, apperr.BadUserInput, "request body too large")
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
		if err != nil {
			writeGraphQLError(w, http.StatusBadRequest, apperr.BadUserInput, "could not read the request body")
			return
		}
		if int64(len(body)) > limit {
			writeGraphQLError(w, http.StatusRequestEntityTooLarge, apperr.BadUserInput, "request body too large")
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

// InFlightWait is how long a request past MaxInFlight waits for a place
// before it is refused: long enough to ride out a burst, short enough that
// a client learns at once that the gateway is at capacity.
const InFlightWait = 50 * time.Millisecond

// withInFlightLimit serves at most n requests at once (n <= 0: no bound).
// Past its capacity the gateway sheds load with 429 RATE_LIMITED and
// Retry-After, as the per-viewer limit does, instead of queueing every
// request: a queue that grows with the offered load grows latency and
// memory with it, and its requests would mostly outlive REQUEST_TIMEOUT.
func withInFlightLimit(n int, next http.Handler) http.Handler {
	if n <= 0 {
		return next
	}
	places := make(chan struct{}, n)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case places <- struct{}{}:
		default:
			wait := time.NewTimer(InFlightWait)
			select {
			case places <- struct{}{}:
				wait.Stop()
			case <-wait.C:
				refuse(w, time.Second, "the gateway is at capacity; retry later")
				return
			case <-r.Context().Done():
				wait.Stop()
				return
			}
		}
		defer func() { <-places }()
		next.ServeHTTP(w, r)
	})
}

// TooManyRequests answers a request over its rate limit (the refusal
// gate.Middleware and gate.LimitUpgrades are given).
func TooManyRequests(w http.ResponseWriter, retryAfter time.Duration) {
	refuse(w, retryAfter, "rate limit exceeded; retry later")
}

// refuse answers 429 RATE_LIMITED, saying when to retry (whole seconds, at
// least one).
func refuse(w http.ResponseWriter, retryAfter time.Duration, why string) {
	secs := int(math.Ceil(retryAfter.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	writeGraphQLError(w, http.StatusTooManyRequests, apperr.RateLimited, why)
}

// withHTTPRules answers what GraphQL over HTTP says about methods and media
// types before gqlgen sees the request: 405 (with Allow) for methods other
// than GET and POST, 415 for a POST body that is not application/json.
func withHTTPRules(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
		case http.MethodPost:
			mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if err != nil || mediaType != "application/json" {
				writeGraphQLError(w, http.StatusUnsupportedMediaType, apperr.BadUserInput,
					"send the request as Content-Type: application/json")
				return
			}
		default:
			w.Header().Set("Allow", "GET, POST")
			writeGraphQLError(w, http.StatusMethodNotAllowed, apperr.BadUserInput, "use GET or POST")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// WriteError answers with a coded GraphQL error body outside gqlgen.
func WriteError(w http.ResponseWriter, status int, code apperr.Code, message string) {
	writeGraphQLError(w, status, code, message)
}

// writeGraphQLError answers with a GraphQL error body outside gqlgen.
func writeGraphQLError(w http.ResponseWriter, status int, code apperr.Code, message string) {
	writeJSON(w, status, map[string]any{"errors": []map[string]any{{
		"message": message, "extensions": map[string]any{"code": string(code)},
	}}})
}

// getMutationIs405 makes a mutation sent over GET answer 405 Method Not
// Allowed (gqlgen says 406, with an error that has no code), as GraphQL over
// HTTP asks (docs/security.md, "GraphQL over HTTP"), with a coded error body.
func getMutationIs405(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			w = &rewrite406{ResponseWriter: w}
		}
		next.ServeHTTP(w, r)
	})
}

// rewrite406 replaces gqlgen's 406 answer with ours and drops gqlgen's body.
type rewrite406 struct {
	http.ResponseWriter
	replaced bool
}

func (w *rewrite406) WriteHeader(code int) {
	if code != http.StatusNotAcceptable {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.replaced = true
	w.Header().Set("Allow", "POST")
	writeGraphQLError(w.ResponseWriter, http.StatusMethodNotAllowed, apperr.BadUserInput,
		"mutations must be sent with POST")
}

func (w *rewrite406) Write(p []byte) (int, error) {
	if w.replaced {
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

// withCORS lets browsers on the listed origins call the API (preflight
// included). With no origins configured no CORS header is sent: same-origin
// only, which is what the playground needs.
func withCORS(origins []string, next http.Handler) http.Handler {
	if len(origins) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin != "" && crossOriginAllowed(origins, origin) {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Add("Vary", "Origin")
			if r.Method == http.MethodOptions {
				h.Set("Access-Control-Allow-Methods", "GET, POST")
				h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Request-ID")
				h.Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// crossOriginAllowed is the one rule for browsers on other origins: the
// origin is listed in CORS_ORIGINS exactly (scheme, host and port), or the
// list holds "*".
func crossOriginAllowed(origins []string, origin string) bool {
	for _, o := range origins {
		if o == "*" || strings.EqualFold(o, origin) {
			return true
		}
	}
	return false
}

// OriginAllowed reports whether r may open a websocket: a request without
// an Origin (not a browser), from the gateway's own origin, or from an
// origin CORS lets call the API (crossOriginAllowed).
func OriginAllowed(origins []string, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if u, err := url.Parse(origin); err == nil && strings.EqualFold(u.Host, r.Host) {
		return true
	}
	return crossOriginAllowed(origins, origin)
}

// IsWebSocket reports whether r asks to open a websocket (GraphQL
// subscriptions).
func IsWebSocket(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}
