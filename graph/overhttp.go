package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
)

// GraphQL over HTTP (the GraphQL Foundation's specification) asks what
// gqlgen's transports do not quite do, and the graphql-http audit suite
// checks:
//
//   - With application/json (what a client that does not ask for
//     application/graphql-response+json gets), a well-formed request is
//     answered 200 even when it fails to parse, validate or coerce its
//     variables: the errors are in the body. gqlgen answers those 422.
//     A request whose parameters are invalid (no query at all) is not
//     well-formed: 400, whatever the media type.
//   - With application/graphql-response+json, a request error (4xx) carries
//     no "data" entry: the request never executed. gqlgen writes "data":
//     null.
//
// overHTTP adjusts gqlgen's answers to these, and nothing else.
func overHTTP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &specWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), malformedKey{}, &sw.malformed)))
		sw.finish()
	})
}

type malformedKey struct{}

// markMalformed records that the request's parameters are invalid (the
// document guard finds it before gqlgen answers).
func markMalformed(ctx context.Context) {
	if m, ok := ctx.Value(malformedKey{}).(*atomic.Bool); ok {
		m.Store(true)
	}
}

const (
	mediaJSON            = "application/json"
	mediaGraphQLResponse = "application/graphql-response+json"
)

// specWriter rewrites the status or body of one GraphQL answer.
type specWriter struct {
	http.ResponseWriter
	wroteHeader bool
	malformed   atomic.Bool
	// requestError holds the body of a graphql-response+json request error,
	// to drop its "data" entry before it is written.
	requestError *bytes.Buffer
}

func (w *specWriter) WriteHeader(status int) {
	if w.wroteHeader {
		return
	}
	w.wroteHeader = true
	contentType := w.Header().Get("Content-Type")
	switch {
	case status == http.StatusUnprocessableEntity && w.malformed.Load():
		status = http.StatusBadRequest
	case status == http.StatusUnprocessableEntity && strings.HasPrefix(contentType, mediaJSON):
		status = http.StatusOK
	case status >= 400 && status < 500 && strings.HasPrefix(contentType, mediaGraphQLResponse):
		w.requestError = new(bytes.Buffer)
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *specWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.requestError != nil {
		return w.requestError.Write(b)
	}
	return w.ResponseWriter.Write(b)
}

// finish writes a held request error without its "data" entry.
func (w *specWriter) finish() {
	if w.requestError == nil {
		return
	}
	body := w.requestError.Bytes()
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err == nil {
		delete(fields, "data")
		if out, err := json.Marshal(fields); err == nil {
			body = out
		}
	}
	_, _ = w.ResponseWriter.Write(body)
}
