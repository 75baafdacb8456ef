package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"testing"
	"time"

	"authz-gateway/answers"
	"authz-gateway/app"
	"authz-gateway/auth"
	"authz-gateway/authz"
	"authz-gateway/cache"
	"authz-gateway/db"
	"authz-gateway/ent"
	"authz-gateway/freshness"
	"authz-gateway/ratelimit"
	"authz-gateway/redisconn"

	"github.com/99designs/gqlgen/graphql"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"
)

// AdminEmail is the admin every test gateway bootstraps.
const AdminEmail = "admin@test.example"

// Secret keys the test gateways' tokens.
var Secret = []byte("5f1c9a7e3b2d8046c1e9f7a3b5d20c4e8a6f1b3d9c7e5a20")

// Gateway is the real gateway (app.New, as production builds it) over a
// fresh PostgreSQL database and Redis, with counters on both, driven
// in-process through its HTTP handler.
type Gateway struct {
	App         *app.App
	DatabaseURL string
	DB          *db.DB
	Redis       redis.UniversalClient
	Cache       *cache.Cache
	Authz       *authz.Service
	Answers     *answers.Source
	Tokens      *auth.Tokens
	Handler     http.Handler
	Admin       *ent.User
	// L1 controls the in-process tier (nil without one).
	L1    *cache.LocalTier
	SQL   *SQLCounter
	Trips *RedisCounter
}

// Options change a test gateway.
type Options struct {
	// RedisAddr uses that Redis (e.g. a StartRedis server) instead of the
	// shared one with a prefix.
	RedisAddr string
	// Redis, when it names a Sentinel group or a Cluster, uses that.
	Redis redisconn.Options
	// Memory uses the in-process store instead of Redis.
	Memory bool
	// DatabaseURL reuses a database (a second instance over the same data).
	DatabaseURL string
	// Prefix is the key prefix on the shared Redis (a second instance must
	// share the first's); empty picks a fresh one.
	Prefix string
	// Cache tunes the cache (BeforeFill hooks, TTLs).
	Cache cache.Config
	// LoaderWait overrides the loaders' batching window.
	LoaderWait time.Duration
	// Introspection runs the gateway in development mode (introspection and
	// the playground on).
	Introspection bool
	// Schema replaces the executable schema (benchmarks of resolver paths).
	Schema func(a *app.App) graphql.ExecutableSchema
	// RateLimit turns rate limiting on (shared through the gateway's Redis).
	RateLimit ratelimit.Limit
	// Limits overrides the request limits.
	Limits app.Limits
	// CORSOrigins may call the gateway from browsers.
	CORSOrigins []string
	// AuditRetention overrides how long delivered log entries are kept.
	AuditRetention time.Duration
	// NoL1 runs without the in-process tier (CACHE_L1_BYTES=0), to measure
	// the Redis tier alone.
	NoL1 bool
	// FleetPause runs before each of the instance's L1 confirmations (block
	// in it to make the instance go silent).
	FleetPause func(ctx context.Context)
	// WarmUsers overrides WARM_USERS (how many recently active users are
	// warmed); negative turns warming off.
	WarmUsers int
	// Tracer turns tracing on with this provider (spans recorded in memory).
	Tracer trace.TracerProvider
	// Identity accepts an identity provider's tokens (AUTH_*).
	Identity app.IdentityProvider
}

// NewGateway builds a gateway for t.
func NewGateway(t testing.TB, opts Options) *Gateway {
	t.Helper()
	g := &Gateway{SQL: &SQLCounter{}, Trips: &RedisCounter{}, DatabaseURL: opts.DatabaseURL}
	if g.DatabaseURL == "" {
		g.DatabaseURL = PostgresURL(t)
	}
	cfg, err := app.LoadConfig(func(string) string { return "" })
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	cfg.DatabaseURL = g.DatabaseURL
	cfg.JWTSecret = string(Secret)
	cfg.AdminEmail = AdminEmail
	cfg.SeedDemo = false
	cfg.Env = "production"
	if opts.Introspection {
		cfg.Env = "development"
	}
	cfg.RateLimit = opts.RateLimit
	cfg.LoaderWait = opts.LoaderWait
	cfg.CORSOrigins = opts.CORSOrigins
	cfg.Identity = opts.Identity
	if cfg.Identity.UserClaim == "" {
		cfg.Identity.UserClaim = auth.ClaimEmail
	}
	if opts.AuditRetention > 0 {
		cfg.AuditRetention = opts.AuditRetention
	}
	cfg.Limits = withDefaultLimits(opts.Limits, cfg.Limits)
	if opts.NoL1 {
		cfg.L1Bytes = 0
	}
	if opts.WarmUsers != 0 {
		cfg.Warm.Users = max(opts.WarmUsers, 0)
	}
	switch {
	case opts.Redis.SentinelMaster != "" || len(opts.Redis.ClusterAddrs) > 0:
		opts.Redis.Timeout = cfg.Redis.Timeout
		cfg.Redis, cfg.CachePrefix = opts.Redis, opts.Prefix
	case !opts.Memory:
		cfg.Redis.URL, cfg.CachePrefix = g.redis(t, opts)
	}
	a, err := app.New(context.Background(), cfg,
		app.WithDriver(g.SQL.Wrap),
		app.WithRedisHook(g.Trips),
		app.WithCacheConfig(func(c *cache.Config) { tuneCache(c, opts.Cache) }),
		app.WithSchema(opts.Schema),
		app.WithFleetConfig(func(f *freshness.FleetConfig) { f.Pause = opts.FleetPause }),
		app.WithTracerProvider(opts.Tracer),
		app.WithL1Controls(func(l1 *cache.LocalTier) { g.L1 = l1 }))
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(a.Close)
	g.App, g.DB, g.Redis, g.Cache, g.Authz, g.Answers, g.Tokens, g.Handler = a, a.DB(), a.Redis(), a.Cache(), a.Authz(), a.Answers(), a.Tokens(), a.Handler()
	if cfg.Identity.Enabled() {
		waitForIdentity(g.Handler, 10*time.Second)
	}
	g.Admin, err = a.UserByEmail(context.Background(), AdminEmail)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return g
}

// redis returns the Redis URL and key prefix of the gateway: the test's own
// server, or the shared one under a prefix deleted when t ends.
func (g *Gateway) redis(t testing.TB, opts Options) (string, string) {
	if opts.RedisAddr != "" {
		return "redis://" + opts.RedisAddr, opts.Prefix
	}
	_, prefix := Redis(t)
	if opts.Prefix != "" {
		prefix = opts.Prefix
	}
	return RedisURL(), prefix
}

// tuneCache applies the test's cache settings over the environment's.
func tuneCache(c *cache.Config, test cache.Config) {
	if test.TTL != nil {
		c.TTL = test.TTL
	}
	if test.BeforeFill != nil {
		c.BeforeFill = test.BeforeFill
	}
}

// withDefaultLimits is l with every limit it leaves zero taken from def.
func withDefaultLimits(l, def app.Limits) app.Limits {
	orDefault := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	orDefault(&l.MaxDepth, def.MaxDepth)
	orDefault(&l.MaxComplexity, def.MaxComplexity)
	orDefault(&l.MaxAliases, def.MaxAliases)
	orDefault(&l.MaxTokens, def.MaxTokens)
	orDefault(&l.MaxFields, def.MaxFields)
	orDefault(&l.MaxResponseBytes, def.MaxResponseBytes)
	if l.MaxBodyBytes == 0 {
		l.MaxBodyBytes = def.MaxBodyBytes
	}
	if l.RequestTimeout == 0 {
		l.RequestTimeout = def.RequestTimeout
	}
	if l.DBTimeout == 0 {
		l.DBTimeout = def.DBTimeout
	}
	return l
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
	return post(t, h, token, map[string]any{"query": query, "variables": vars})
}

// PostExtensions sends a GraphQL POST with extensions (a persisted query:
// an empty query sends the hash alone).
func PostExtensions(t testing.TB, h http.Handler, token, query string, extensions map[string]any) Response {
	t.Helper()
	body := map[string]any{"extensions": extensions}
	if query != "" {
		body["query"] = query
	}
	return post(t, h, token, body)
}

func post(t testing.TB, h http.Handler, token string, request map[string]any) Response {
	t.Helper()
	body, err := json.Marshal(request)
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

// CacheHits counts the reads answered from a cache tier: the store's hits
// and the L1's.
func (g *Gateway) CacheHits() uint64 {
	return g.Cache.Stats(context.Background()).Hits + g.Cache.LocalStats().Hits
}

// Metric reads one sample of g's /metrics, name with labels as exposed
// (e.g. `authz_cache_warm_runs_total{reason="start"}`); false when it is not
// (yet) exposed. It never fails the test, so polled conditions may call it.
func (g *Gateway) Metric(name string) (float64, bool) {
	rec := httptest.NewRecorder()
	g.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindStringSubmatch(rec.Body.String())
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	return v, err == nil
}

// MustMetric is Metric, failing the test when the sample is missing.
func (g *Gateway) MustMetric(t testing.TB, name string) float64 {
	t.Helper()
	v, ok := g.Metric(name)
	if !ok {
		t.Fatalf("testenv: %s not in /metrics", name)
	}
	return v
}

// ProductionRateLimit is the rate limit a gateway runs with when the
// environment says nothing (RATE_LIMIT, RATE_LIMIT_BURST): tests of the
// security rules run with it on.
func ProductionRateLimit() ratelimit.Limit {
	cfg, err := app.LoadConfig(func(string) string { return "" })
	if err != nil {
		panic(err)
	}
	return cfg.RateLimit
}

// waitForIdentity waits, at most d, until /readyz says the identity
// provider's keys are known, as a deployment's readiness probe does before
// traffic comes: the gateway starts without waiting for a slow provider
// (auth.RefetchWait). A provider that stays down or hangs (tests of that)
// costs the wait and nothing else.
func waitForIdentity(h http.Handler, d time.Duration) {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		var status map[string]string
		if json.Unmarshal(rec.Body.Bytes(), &status) == nil && status["identity provider"] == "ok" {
			return
		}
	}
}
