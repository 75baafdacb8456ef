// Package app builds the whole gateway from its configuration: the database
// (migrated, with the default roles and the admin), the cache (Redis or
// in-process), the authz service and the HTTP handler. It is the one wiring:
// the command, the tests and the load tool all run exactly this.
package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"authz-gateway/answers"
	"authz-gateway/auth"
	"authz-gateway/authz"
	"authz-gateway/cache"
	"authz-gateway/db"
	"authz-gateway/ent"
	"authz-gateway/ent/user"
	"authz-gateway/freshness"
	"authz-gateway/gate"
	"authz-gateway/graph"
	"authz-gateway/httpapi"
	"authz-gateway/identity"
	"authz-gateway/loaders"
	"authz-gateway/ratelimit"
	"authz-gateway/redisconn"
	"authz-gateway/reqctx"
	"authz-gateway/tracing"
	"authz-gateway/warm"

	"entgo.io/ent/dialect"
	"github.com/99designs/gqlgen/graphql"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/trace"
)

// App is the wired gateway.
type App struct {
	cfg    Config
	opts   options
	db     *db.DB
	redis  redis.UniversalClient
	cache  *cache.Cache
	l1     *cache.LocalTier // nil without an L1
	authz  *authz.Service
	tokens *auth.Tokens
	// verifiers verifies every bearer token: the gateway's own (tokens)
	// and the identity provider's, when one is configured.
	verifiers *auth.Verifiers
	// provisioning paces AUTH_PROVISION's new users.
	provisioning *identity.Provisioning
	stopKeys     context.CancelFunc
	handler      http.Handler
	server       *http.Server
	listener     net.Listener

	metricsRegistry *prometheus.Registry
	metricsServer   *http.Server

	positions *freshness.Positions
	// log is the access-change log: every write commits through it, its
	// watchers keep this instance's tiers fresh.
	log          *freshness.Log
	warmer       *warm.Warmer
	answers      *answers.Source
	redisLatency *redisconn.LatencyHook
	// requestSeconds times GraphQL requests (the dashboard's request
	// latency).
	requestSeconds prometheus.Histogram
	stopWatch      func()
	stopFleet      func()
	stopWarming    func()
	stopExpiry     func()
	started        time.Time
	// traced: spans are recorded (tracing.Install was called);
	// stopTracing flushes the exporter.
	traced      bool
	stopTracing func(context.Context) error
}

// Option adjusts what the environment cannot say: instruments for tests and
// benchmarks. Production passes none.
type Option func(*options)

type options struct {
	wrapDriver func(dialect.Driver) dialect.Driver
	redisHook  redis.Hook
	tuneCache  func(*cache.Config)
	schema     func(*App) graphql.ExecutableSchema
	tuneFleet  func(*freshness.FleetConfig)
	tracer     trace.TracerProvider
	l1Hook     func(*cache.LocalTier)
}

// WithDriver wraps the database driver (tests count statements with it).
func WithDriver(wrap func(dialect.Driver) dialect.Driver) Option {
	return func(o *options) { o.wrapDriver = wrap }
}

// WithRedisHook adds a hook to the Redis client (tests count round trips).
func WithRedisHook(h redis.Hook) Option { return func(o *options) { o.redisHook = h } }

// WithCacheConfig adjusts the cache's configuration after the environment's
// (tests pause fills or shorten timeouts with it).
func WithCacheConfig(tune func(*cache.Config)) Option { return func(o *options) { o.tuneCache = tune } }

// WithFleetConfig adjusts the fleet membership (tests make an instance go
// silent with it).
func WithFleetConfig(tune func(*freshness.FleetConfig)) Option {
	return func(o *options) { o.tuneFleet = tune }
}

// WithL1Controls hands the L1's controls to hook as well as to the fleet
// (tests drop the tier with them, as if another instance had filled Redis).
func WithL1Controls(hook func(*cache.LocalTier)) Option {
	return func(o *options) { o.l1Hook = hook }
}

// WithTracerProvider turns tracing on with tp (tests record spans in
// memory with it) instead of the OTLP exporter of the environment.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) { o.tracer = tp }
}

// WithSchema replaces the executable schema (benchmarks of resolver paths).
func WithSchema(schema func(*App) graphql.ExecutableSchema) Option {
	return func(o *options) { o.schema = schema }
}

// New opens the database (migrating it and ensuring the default roles), the
// cache, the authz service (which bootstraps an admin if none exists) and the
// HTTP handler.
func New(ctx context.Context, cfg Config, opts ...Option) (*App, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	secret, err := cfg.jwtSecret()
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, tokens: auth.NewTokens(secret).WithMaxAge(cfg.TokenMaxAge)}
	for _, o := range opts {
		o(&a.opts)
	}
	if err := a.startIdentity(); err != nil {
		return nil, err
	}
	if err := a.startTracing(ctx); err != nil {
		a.Close() // stops the key set's refresh
		return nil, err
	}
	if err := a.openDB(ctx); err != nil {
		a.Close()
		return nil, err
	}
	if err := a.openCache(); err != nil {
		a.Close()
		return nil, err
	}
	a.assemble()
	if err := a.start(ctx); err != nil {
		a.Close()
		return nil, err
	}
	if a.handler, err = a.newHandler(); err != nil {
		a.Close()
		return nil, err
	}
	if a.traced {
		// The outermost span: one per HTTP request, named by route.
		a.handler = otelhttp.NewHandler(a.handler, "http",
			otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method + " " + r.URL.Path }))
	}
	return a, nil
}

// assemble builds the domain over the database and the cache: the warmer,
// the access-change log (with the domain's rule of who a change affects),
// the users' answers and the authz service, each handed what it needs.
func (a *App) assemble() {
	a.warmer = warm.New(a.cfg.Warm, a.cache)
	a.log = freshness.New(freshness.Config{
		DB: a.db.Client, Cache: a.cache, Positions: a.positions, Postgres: a.db.Dialect == dialect.Postgres,
		Holders:         authz.Holders,
		OnInvalidateAll: func() { a.warmer.Trigger("invalidate_all") },
	})
	a.answers = answers.New(a.db.Client, a.cache, a.db.Dialect)
	a.authz = authz.NewService(authz.Config{DB: a.db.Client, Cache: a.cache, Answers: a.answers, Log: a.log, Activity: a.warmer})
}

// start brings the freshness machinery up, in the one order that keeps every
// answer fresh from the first request:
//
//  0. the in-process store, which begins empty with the process, starts at
//     the log's delivered head (it is not a store that went back in time);
//  1. the log watcher: deliveries from other instances (and overdue ones)
//     reach this instance before it serves anything;
//  2. the fleet membership (with an L1): from now on writers wait for this
//     instance's confirmations;
//  3. the admin bootstrap: a write like any other, so it must come after 2
//     (it returns once the other instances' L1s have dropped what it
//     changes);
//  4. the first confirmation of this instance's L1: the bootstrap's change
//     dropped and the lease taken, so the L1 answers from the first request
//     (if it fails, the L1 answers once a later one succeeds);
//  5. the expiry watcher: it writes the "expire" entries of ended grants,
//     writes like any other (so after 2);
//  6. warming, last: it reads through the cache the steps above made fresh.
func (a *App) start(ctx context.Context) error {
	log := a.log
	if a.redis == nil {
		// The in-process store begins empty with this process.
		if err := log.StoreStartsEmpty(ctx); err != nil {
			return err
		}
	}
	watch := freshness.WatchConfig{Retention: a.cfg.AuditRetention}
	if !a.cfg.embedded() {
		watch.DSN = cmp.Or(a.cfg.DatabaseListenURL, a.cfg.DatabaseURL)
	}
	a.stopWatch = log.WatchLog(watch)
	if a.l1 != nil {
		fleet := freshness.FleetConfig{Lease: a.cfg.L1Lease}
		if a.opts.tuneFleet != nil {
			a.opts.tuneFleet(&fleet)
		}
		var err error
		if a.stopFleet, err = log.JoinFleet(fleet, a.l1); err != nil {
			return err
		}
	}
	if _, err := a.authz.BootstrapAdmin(ctx, a.cfg.AdminEmail, db.GrantAdmin); err != nil {
		return err
	}
	if err := log.ConfirmL1(ctx); err != nil {
		slog.WarnContext(ctx, "fleet: first confirmation failed; the L1 answers once one succeeds", "err", err)
	}
	a.started = time.Now()
	a.stopExpiry = log.StartExpiry(freshness.ExpiryConfig{}, authz.GrantEnds(a.answers))
	a.stopWarming = a.warmer.Start(a.answers)
	return nil
}

func (a *App) openDB(ctx context.Context) error {
	if a.cfg.embedded() {
		if err := os.MkdirAll(a.cfg.DataDir, 0o700); err != nil {
			return fmt.Errorf("create data dir: %w", err)
		}
	}
	d, err := db.Open(a.cfg.DatabaseURL, a.cfg.sqlitePath(), db.Options{Driver: a.opts.wrapDriver, Timeout: a.cfg.Limits.DBTimeout, MaxConns: a.cfg.Limits.DBMaxConns, Traced: a.traced})
	if err != nil {
		return err
	}
	a.db = d
	if a.cfg.embedded() || a.cfg.MigrateAtStart {
		migrated, err := d.MigrateVersioned(ctx)
		if err != nil {
			return err
		}
		if migrated {
			slog.InfoContext(ctx, "database schema migrated", "version", db.SchemaVersion())
		}
	} else if err := d.CheckVersion(ctx); err != nil {
		return err
	}
	if err := d.EnsureRoles(ctx); err != nil {
		return err
	}
	if a.cfg.SeedDemo {
		if _, err := d.SeedDemo(ctx); err != nil {
			return err
		}
	}
	return nil
}

// openCache uses Redis when configured, else the in-process store.
func (a *App) openCache() error {
	var store cache.Store = cache.NewMemoryStore()
	// The store is trusted only as far as it has applied the access-change
	// log (freshness.Positions).
	a.positions = freshness.NewPositions()
	cacheCfg := cache.Config{TTL: a.cfg.CacheTTL, Accept: a.positions.Accept, NoRefreshAhead: !a.cfg.RefreshAhead}
	if a.cfg.Redis.Configured() {
		client, err := redisconn.NewClient(a.cfg.Redis)
		if err != nil {
			return err
		}
		if a.opts.redisHook != nil {
			client.AddHook(a.opts.redisHook)
		}
		a.redisLatency = redisconn.NewLatencyHook()
		client.AddHook(a.redisLatency)
		if a.traced {
			if err := redisotel.InstrumentTracing(client); err != nil {
				return fmt.Errorf("trace redis: %w", err)
			}
		}
		a.redis = client
		store = cache.NewRedisStore(client, a.cfg.CachePrefix, 2*cacheCfg.MaxTTL())
		cacheCfg.OpTimeout = a.cfg.Redis.Timeout
		if a.cfg.l1() {
			// An L1 in front of Redis; its lease comes from the fleet
			// membership (JoinFleet), which needs PostgreSQL.
			cacheCfg.LocalBytes = a.cfg.L1Bytes
			cacheCfg.LocalCurrent = a.positions.Current
		}
	}
	if a.opts.tuneCache != nil {
		a.opts.tuneCache(&cacheCfg)
	}
	a.cache, a.l1 = cache.New(store, cacheCfg)
	if a.opts.l1Hook != nil && a.l1 != nil {
		a.opts.l1Hook(a.l1)
	}
	return nil
}

// schemaSDL is the schema served at /schema.graphql: in development only,
// like introspection.
func (a *App) schemaSDL() []byte {
	if !a.cfg.Development() {
		return nil
	}
	return graph.SDL()
}

// Migrate brings the configured database's schema to this binary's version
// (the `migrate` command: run it once per deploy, then start instances with
// MIGRATE_AT_START=false). It reports whether anything was applied.
func Migrate(ctx context.Context, cfg Config) (migrated bool, err error) {
	if cfg.embedded() {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return false, fmt.Errorf("create data dir: %w", err)
		}
	}
	d, err := db.Open(cfg.DatabaseURL, cfg.sqlitePath(), db.Options{Timeout: cfg.Limits.DBTimeout})
	if err != nil {
		return false, err
	}
	defer d.Close()
	return d.MigrateVersioned(ctx)
}

// startTracing installs the tracer provider: the test's, or an OTLP
// exporter when the environment names an endpoint. Otherwise nothing is
// instrumented.
func (a *App) startTracing(ctx context.Context) error {
	switch {
	case a.opts.tracer != nil:
		tracing.Install(a.opts.tracer)
	case a.cfg.Tracing:
		tp, err := tracing.FromEnv(ctx)
		if err != nil {
			return err
		}
		tracing.Install(tp)
		a.stopTracing = tp.Shutdown
	default:
		return nil
	}
	a.traced = true
	return nil
}

// startIdentity builds the token verifiers: the gateway's own tokens and,
// with AUTH_ISSUER, the identity provider's (its keys fetched now and kept
// fresh until Close; a provider that is down leaves the gateway running
// and not ready).
func (a *App) startIdentity() error {
	ip := a.cfg.Identity
	if !ip.Enabled() {
		a.verifiers = auth.NewVerifiers(a.tokens, nil)
		return nil
	}
	ctx, stop := context.WithCancel(context.Background())
	a.stopKeys = stop
	keys := auth.NewKeySet(ctx, auth.KeySetConfig{Issuer: ip.Issuer, JWKSURL: ip.JWKSURL})
	issuer, err := auth.NewIssuer(auth.IssuerConfig{Issuer: ip.Issuer, Audience: ip.Audience, Claim: ip.UserClaim, Keys: keys, MaxAge: a.cfg.TokenMaxAge, GroupsClaim: ip.GroupsClaim})
	if err != nil {
		stop()
		return fmt.Errorf("identity provider: %w", err)
	}
	a.verifiers = auth.NewVerifiers(a.tokens, issuer)
	return nil
}

// newGate is the one pipeline of every operation: token, rate limit, the
// viewer afresh (the authz service; a provider's caller through identity),
// fresh loaders (package gate).
func (a *App) newGate() *gate.Gate {
	a.provisioning = identity.NewProvisioning(a.redis, a.cfg.CachePrefix, a.cfg.Redis.Timeout)
	cfg := gate.Config{
		Tokens:  a.verifiers,
		Limiter: ratelimit.New(a.redis, a.cfg.CachePrefix+"ratelimit:", a.cfg.RateLimit, a.cfg.Redis.Timeout),
		Viewers: a.authz,
		Loaders: loaders.NewFactory(a.db.Client, a.answers, a.cfg.LoaderWait),
	}
	if a.cfg.Identity.Enabled() {
		idc := identity.Config{
			DB: a.db.Client, Viewers: a.authz, Log: a.log,
			Provision: a.cfg.Identity.Provision, Pace: a.provisioning, Issuer: a.cfg.Identity.Issuer,
		}
		if a.cfg.Identity.GroupsClaim != "" {
			idc.Groups = a.authz
		}
		cfg.Identities = identity.New(idc)
	}
	return gate.New(cfg)
}

// newHandler composes the HTTP surface. Every GraphQL request and every
// request for the dashboard's data passes the gate first; each operation on
// a socket passes it too (graph's socket transport).
func (a *App) newHandler() (http.Handler, error) {
	var persisted graphql.Cache[string]
	if a.redis != nil {
		persisted = redisconn.NewQueryStore(a.redis, a.cfg.CachePrefix, 24*time.Hour, a.cfg.Redis.Timeout)
	}
	var schema graphql.ExecutableSchema
	if a.opts.schema != nil {
		schema = a.opts.schema(a)
	}
	g := a.newGate()
	a.requestSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "authz_http_request_seconds",
		Help:    "Time to answer a GraphQL request over HTTP (websocket subscriptions excluded).",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
	})
	a.metricsRegistry = a.metrics()
	gql, err := graph.NewHandler(graph.Services{DB: a.db.Client, Authz: a.authz, Answers: a.answers, Log: a.log, Cache: a.cache, Metrics: a.metricsRegistry}, graph.HandlerConfig{
		Gate:          g,
		Introspection: a.cfg.Development(),
		Limits: graph.Limits{
			MaxDepth: a.cfg.Limits.MaxDepth, MaxComplexity: a.cfg.Limits.MaxComplexity, MaxAliases: a.cfg.Limits.MaxAliases,
			MaxTokens: a.cfg.Limits.MaxTokens, MaxFields: a.cfg.Limits.MaxFields, MaxResponseBytes: a.cfg.Limits.MaxResponseBytes,
		},
		PersistedQueries: persisted,
		Schema:           schema,
		Sockets: &graph.SocketConfig{
			Origins:          a.cfg.CORSOrigins,
			MaxMessageBytes:  a.cfg.Limits.MaxBodyBytes,
			OperationTimeout: a.cfg.Limits.RequestTimeout,
		},
		Traced: a.traced,
	})
	if err != nil {
		return nil, err
	}
	cfg := httpapi.Config{
		GraphQL:        timed(a.requestSeconds, gql.HTTP),
		Sockets:        gql.Sockets,
		Playground:     a.cfg.Development(),
		SchemaSDL:      a.schemaSDL(),
		MaxBodyBytes:   a.cfg.Limits.MaxBodyBytes,
		RequestTimeout: a.cfg.Limits.RequestTimeout,
		MaxInFlight:    a.cfg.Limits.MaxInFlight,
		Ready:          a.ready,
		CORSOrigins:    a.cfg.CORSOrigins,
		Dashboard:      true,
	}
	if a.cfg.MetricsAddr == "" {
		cfg.Metrics = a.metricsRegistry
	}
	return httpapi.New(cfg), nil
}

// timed observes how long h takes for each request (sockets are served
// apart: a subscription lasts as long as its connection).
func timed(seconds prometheus.Histogram, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		h.ServeHTTP(w, r)
		seconds.Observe(time.Since(start).Seconds())
	})
}

func (a *App) metrics() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(a.cache.Collector(), a.requestSeconds)
	reg.MustRegister(a.log.FleetCollectors()...)
	reg.MustRegister(a.log.DeliveryCollectors()...)
	reg.MustRegister(a.warmer.Collectors()...)
	reg.MustRegister(a.provisioning.Collector())
	reg.MustRegister(collectors.NewDBStatsCollector(a.db.SQL, "gateway"))
	if a.redis != nil {
		reg.MustRegister(redisconn.NewPoolCollector(a.redis),
			redisconn.NewHealthCollector(a.redis, a.cfg.CachePrefix),
			a.redisLatency.Collector())
	}
	return reg
}

// ready pings the database and, when configured, Redis.
func (a *App) ready(ctx context.Context) map[string]error {
	status := map[string]error{"database": a.db.Ping(ctx)}
	if a.cfg.Identity.Enabled() {
		status["identity provider"] = a.verifiers.Ready(ctx)
	}
	if a.redis != nil {
		status["redis"] = a.redis.Ping(ctx).Err()
	}
	// A new instance takes traffic once warm, or once WARM_READY_MAX has
	// passed: warming never holds readiness back longer.
	if !a.warmer.Warmed() && time.Since(a.started) < a.cfg.WarmReady {
		status["warming"] = errWarming
	}
	return status
}

var errWarming = errors.New("warming the cache")

// Ready waits, at most until ctx ends, for the readiness /readyz reports,
// and returns why the gateway is not ready yet when ctx ended first (nil:
// ready).
func (a *App) Ready(ctx context.Context) error {
	for {
		var reasons []error
		for what, err := range a.ready(ctx) {
			if err != nil {
				reasons = append(reasons, fmt.Errorf("%s: %w", what, err))
			}
		}
		if len(reasons) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(reasons...)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Config returns the configuration the app was built with.
func (a *App) Config() Config { return a.cfg }

// Handler returns the HTTP handler (for tests that drive it in-process).
func (a *App) Handler() http.Handler { return a.handler }

// DB returns the database.
func (a *App) DB() *db.DB { return a.db }

// Redis returns the Redis client, or nil without Redis.
func (a *App) Redis() redis.UniversalClient { return a.redis }

// Cache returns the answer cache.
func (a *App) Cache() *cache.Cache { return a.cache }

// Authz returns the authz service.
func (a *App) Authz() *authz.Service { return a.authz }

// Warmed reports whether the cache's first warming has finished (true
// without warming).
func (a *App) Warmed() bool { return a.warmer.Warmed() }

// Answers returns the users' answers, read through the cache.
func (a *App) Answers() *answers.Source { return a.answers }

// Log returns the access-change log.
func (a *App) Log() *freshness.Log { return a.log }

// Tokens returns the token issuer.
func (a *App) Tokens() *auth.Tokens { return a.tokens }

// Listen binds addr (":0" picks a free port).
func (a *App) Listen(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	a.listener = l
	return nil
}

// URL is the base URL the app listens on.
func (a *App) URL() string {
	port := a.listener.Addr().(*net.TCPAddr).Port
	return fmt.Sprintf("http://localhost:%d", port)
}

// Serve answers requests until ctx is cancelled, then shuts down gracefully,
// giving in-flight requests up to 10 s.
func (a *App) Serve(ctx context.Context) error {
	a.server = &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 2)
	go func() { errc <- a.server.Serve(a.listener) }()
	if err := a.serveMetrics(errc); err != nil {
		_ = a.server.Close()
		return err
	}
	slog.Info("serving", "url", a.URL(), "env", a.cfg.Env, "cache", a.cache.Stats(ctx).Backend)
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if a.metricsServer != nil {
		_ = a.metricsServer.Shutdown(shutdownCtx)
	}
	if err := a.server.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	slog.Info("stopped")
	return nil
}

// serveMetrics serves /metrics on METRICS_ADDR when it is set.
func (a *App) serveMetrics(errc chan<- error) error {
	if a.cfg.MetricsAddr == "" {
		return nil
	}
	l, err := net.Listen("tcp", a.cfg.MetricsAddr)
	if err != nil {
		return fmt.Errorf("listen METRICS_ADDR %s: %w", a.cfg.MetricsAddr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.metricsRegistry, promhttp.HandlerOpts{}))
	a.metricsServer = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 120 * time.Second}
	go func() {
		if err := a.metricsServer.Serve(l); !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}()
	slog.Info("serving metrics", "addr", l.Addr().String())
	return nil
}

// Close stops the log watcher and releases the cache, Redis and the
// database.
func (a *App) Close() {
	if a.stopKeys != nil {
		a.stopKeys()
	}
	if a.stopWarming != nil {
		a.stopWarming()
	}
	if a.stopExpiry != nil {
		a.stopExpiry()
	}
	if a.stopFleet != nil {
		a.stopFleet()
	}
	if a.stopWatch != nil {
		a.stopWatch()
	}
	if a.cache != nil {
		a.cache.Close()
	}
	if a.redis != nil {
		_ = a.redis.Close()
	}
	if a.db != nil {
		_ = a.db.Close()
	}
	if a.stopTracing != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.stopTracing(ctx) // flushes the spans still batched
	}
}

// UserByEmail returns the user with that email (the token command and the
// welcome message use it).
func (a *App) UserByEmail(ctx context.Context, email string) (*ent.User, error) {
	u, err := a.db.Client.User.Query().
		Where(user.Email(auth.NormalizeEmail(email))).
		Only(reqctx.NewContextWithSystem(ctx))
	if err != nil {
		return nil, fmt.Errorf("no user with email %q: %w", email, err)
	}
	return u, nil
}

// TokenFor issues a token for the user with that email, valid TOKEN_TTL.
func (a *App) TokenFor(ctx context.Context, email string) (string, error) {
	u, err := a.UserByEmail(ctx, email)
	if err != nil {
		return "", err
	}
	return a.tokens.Issue(u.ID, a.cfg.TokenTTL)
}

// IssueToken mints a token, valid TOKEN_TTL, for the active user with that
// email without starting the gateway: it reads the secret and the user and
// writes nothing (no migration, no bootstrap, no log entry, so minting a
// token never invalidates anyone's cache). A missing database, schema or
// user is an error that says what to run.
func IssueToken(ctx context.Context, cfg Config, email string) (string, error) {
	secret, err := cfg.existingSecret()
	if err != nil {
		return "", err
	}
	if cfg.embedded() {
		if _, err := os.Stat(cfg.sqlitePath()); err != nil {
			return "", fmt.Errorf("no database at %s yet: start the gateway once (make run)", cfg.sqlitePath())
		}
	}
	d, err := db.Open(cfg.DatabaseURL, cfg.sqlitePath(), db.Options{Timeout: cfg.Limits.DBTimeout})
	if err != nil {
		return "", err
	}
	defer d.Close()
	if err := d.CheckVersion(ctx); err != nil {
		return "", err
	}
	u, err := d.Client.User.Query().Where(user.Email(auth.NormalizeEmail(email))).Only(reqctx.NewContextWithSystem(ctx))
	switch {
	case ent.IsNotFound(err):
		return "", fmt.Errorf("no user with email %q", email)
	case err != nil:
		return "", fmt.Errorf("find the user (has the database been migrated? run `authz-gateway migrate`): %w", err)
	case !u.Active:
		return "", fmt.Errorf("the user with email %q is deactivated", email)
	}
	return auth.NewTokens(secret).WithMaxAge(cfg.TokenMaxAge).Issue(u.ID, cfg.TokenTTL)
}
