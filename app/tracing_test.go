package app_test

import (
	"testing"

	"authz-gateway/internal/testenv"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace/noop"
)

// Spans for the HTTP request, the GraphQL operation and its fields, loader
// batches, Redis and SQL, recorded in memory: the expected names, and every
// span in one trace under the HTTP request's span.
func TestTracing_SpansFromHTTPDownToRedisAndSQL(t *testing.T) {
	recorder := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
	t.Cleanup(func() { otel.SetTracerProvider(noop.NewTracerProvider()) })
	g := testenv.NewGateway(t, testenv.Options{Tracer: tp})
	w := testenv.NewWorld(t, g.DB.Client)
	w.User("traced@test.example")

	testenv.MustOK(t, g.Do(t, g.Token(t, g.Admin.ID), `{ users(first: 5) { edges { node { email permissions } } } }`, nil))
	spans := recorder.Ended()
	byName := map[string]sdktrace.ReadOnlySpan{}
	var root sdktrace.ReadOnlySpan
	for _, s := range spans {
		byName[s.Name()] = s
		if s.Name() == "POST /graphql" {
			root = s
		}
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	t.Logf("%d spans: %v", len(spans), names)
	require.NotNil(t, root, "the HTTP request's span")

	parent := map[string]string{} // span ID -> parent span ID
	for _, s := range spans {
		parent[s.SpanContext().SpanID().String()] = s.Parent().SpanID().String()
	}
	underRoot := func(s sdktrace.ReadOnlySpan) bool {
		for id := s.SpanContext().SpanID().String(); id != ""; id = parent[id] {
			if id == root.SpanContext().SpanID().String() {
				return true
			}
			if _, ok := parent[id]; !ok {
				return false
			}
		}
		return false
	}
	for _, want := range []string{"loader.reaches", "Query/users", "User/permissions"} {
		if assert.Contains(t, byName, want) {
			assert.True(t, underRoot(byName[want]), "%s under the request", want)
		}
	}
	var graphql, redis, sqlSpans int
	for _, s := range spans {
		if s.SpanContext().TraceID() != root.SpanContext().TraceID() {
			continue // background work (the log watcher, the fleet) traces on its own
		}
		assert.True(t, underRoot(s), "%s is under the request's span", s.Name())
		switch {
		case s.InstrumentationScope().Name == "github.com/ravilushqa/otelgqlgen":
			graphql++
		case s.InstrumentationScope().Name == "github.com/redis/go-redis/extra/redisotel":
			redis++
		case s.InstrumentationScope().Name == "github.com/XSAM/otelsql":
			sqlSpans++
		}
	}
	assert.Positive(t, graphql, "GraphQL operation and field spans")
	assert.Positive(t, redis, "Redis spans")
	assert.Positive(t, sqlSpans, "SQL spans")

	// The viewer's own answers too: a span per field that resolves.
	recorder.Reset()
	testenv.MustOK(t, g.Do(t, g.Token(t, g.Admin.ID), `{ me { permissions } }`, nil))
	var fields []string
	for _, s := range recorder.Ended() {
		fields = append(fields, s.Name())
	}
	assert.Contains(t, fields, "Query/me")
	assert.Contains(t, fields, "User/permissions")
}
