package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"authz-gateway/auth"
	"authz-gateway/authz"
	"authz-gateway/cache"
	"authz-gateway/db"
	"authz-gateway/ent"
	"authz-gateway/httpapi"
	"authz-gateway/ratelimit"

	"github.com/99designs/gqlgen/graphql"
	"github.com/redis/go-redis/v9"
)

// AdminEmail is the admin every test gateway bootstraps.
const AdminEmail = "admin@test.example"

// Secret keys the test gateways' tokens.
var Secret = []byte("test-secret-test-secret-test-secret")

// Gateway is a complete gateway over a fresh PostgreSQL database and Redis,
// with counters on both, driven in-process through its HTTP handler.
type Gateway struct {
	DB      *db.DB
	Redis   redis.UniversalClient
	Cache   *cache.Cache
	Authz   *authz.Service
	Tokens  *auth.Tokens
	Handler http.Handler
	Admin   *ent.User
	SQL     *SQLCounter
	Trips   *RedisCounter
}

// Options change a test gateway.
type Options struct {
	// RedisAddr uses that Redis (e.g. a StartRedis server) instead of the
	// shared one with a prefix.
	RedisAddr string
	// Memory uses the in-process store instead of Redis.
	Memory bool
	// DB reuses a database (a second instance over the same data).
	DB *db.DB
	// Prefix is the key prefix on the shared Redis (a second instance must
	// share the first's); empty picks a fresh one.
	Prefix string
	// Cache tunes the cache (BeforeFill hooks, timeouts).
	Cache cache.Config
	// LoaderWait overrides the loaders' batching window.
	LoaderWait time.Duration
	// Introspection enables introspection.
	Introspection bool
	// Schema replaces the executable schema (benchmarks of resolver paths).
	Schema func(g *Gateway) graphql.ExecutableSchema
	// RateLimit turns rate limiting on (shared through the gateway's Redis).
	RateLimit ratelimit.Limit
	// Limits overrides the request limits.
	Limits httpapi.Limits
}

// NewGateway builds a gateway for t.
func NewGateway(t testing.TB, opts Options) *Gateway {
	t.Helper()
	g := &Gateway{SQL: &SQLCounter{}, Trips: &RedisCounter{}, Tokens: auth.NewTokens(Secret)}
	g.DB = opts.DB
	if g.DB == nil {
		g.DB = OpenPostgres(t, db.Options{Driver: g.SQL.Wrap})
	}
	admin, err := g.DB.Bootstrap(context.Background(), AdminEmail)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	g.Admin = admin
	g.Cache = cache.New(g.store(t, opts), opts.Cache)
	t.Cleanup(g.Cache.Close)
	g.Authz = authz.NewService(g.DB.Client, g.Cache, g.DB.Postgres)
	cfg := httpapi.Config{
		DB: g.DB.Client, Authz: g.Authz, Tokens: g.Tokens,
		Introspection: opts.Introspection, LoaderWait: opts.LoaderWait, Limits: opts.Limits,
	}
	if g.Redis != nil {
		cfg.PersistedQueries = cache.NewQueryStore(g.Redis, g.Prefix(), time.Hour, 100*time.Millisecond)
	}
	if opts.RateLimit.PerSecond > 0 {
		cfg.RateLimiter = ratelimit.New(g.Redis, g.Prefix()+"ratelimit:", opts.RateLimit, 100*time.Millisecond)
	}
	if opts.Schema != nil {
		cfg.Schema = opts.Schema(g)
	}
	g.Handler = httpapi.New(cfg)
	return g
}

func (g *Gateway) store(t testing.TB, opts Options) cache.Store {
	if opts.Memory {
		return cache.NewMemoryStore()
	}
	var prefix string
	if opts.RedisAddr != "" {
		g.Redis = NewRedisClient(t, opts.RedisAddr)
		t.Cleanup(func() { _ = g.Redis.Close() })
	} else {
		g.Redis, prefix = Redis(t)
	}
	if opts.Prefix != "" {
		prefix = opts.Prefix
	}
	g.Redis.AddHook(g.Trips)
	return cache.NewRedisStore(g.Redis, prefix, 2*time.Hour)
}

// Prefix returns the store's key prefix (to start a second instance on it).
func (g *Gateway) Prefix() string { return g.Cache.KeyPrefix() }

// Token returns a valid token for user id.
func (g *Gateway) Token(t testing.TB, id int) string {
	t.Helper()
	tok, err := g.Tokens.Issue(id, time.Hour)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return tok
}

// Response is a GraphQL response.
type Response struct {
	Status int
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Path       []any          `json:"path"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

// Codes lists the extensions.code of every error.
func (r Response) Codes() []string {
	var out []string
	for _, e := range r.Errors {
		code, _ := e.Extensions["code"].(string)
		out = append(out, code)
	}
	return out
}

// Decode unmarshals data into v.
func (r Response) Decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Data, v); err != nil {
		t.Fatalf("decode %s: %v", r.Data, err)
	}
}

// Do posts a GraphQL request as the holder of token ("" for none).
func (g *Gateway) Do(t testing.TB, token, query string, vars map[string]any) Response {
	t.Helper()
	return Post(t, g.Handler, token, query, vars)
}

// Post sends a GraphQL POST to h.
func Post(t testing.TB, h http.Handler, token, query string, vars map[string]any) Response {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		t.Fatalf("encode request: %v", err)
	}
	req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := Serve(h, req)
	resp := Response{Status: rec.Code}
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		t.Fatalf("decode response %q (status %d): %v", rec.Body.String(), rec.Code, err)
	}
	return resp
}

// MustOK fails t unless r has no errors, and returns r.
func MustOK(t testing.TB, r Response) Response {
	t.Helper()
	if len(r.Errors) > 0 {
		t.Fatalf("unexpected errors: %+v", r.Errors)
	}
	return r
}

// Serve runs req through h the way net/http does: the request's context is
// cancelled once the handler returns, so work a request left running (a
// prefetch nobody awaited) stops, as it would in a real server.
func Serve(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	ctx, cancel := context.WithCancel(req.Context())
	defer cancel()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req.WithContext(ctx))
	return rec
}
