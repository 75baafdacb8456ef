// Command authz-gateway serves the authorization GraphQL gateway.
//
//	authz-gateway                 serve (default)
//	authz-gateway token --email E print a bearer token for a user
//
// Configuration comes from the environment; see config.go and the README.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"authz-gateway/auth"
	"authz-gateway/authz"
	"authz-gateway/cache"
	"authz-gateway/db"
	"authz-gateway/ent/user"
	"authz-gateway/httpapi"
	"authz-gateway/ratelimit"
	"authz-gateway/reqctx"

	"github.com/99designs/gqlgen/graphql"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
)

func main() {
	slog.SetDefault(slog.New(slog.NewJSONHandler(os.Stderr, nil)))
	cache.SilenceRedisLogs()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "authz-gateway:", err)
		os.Exit(1)
	}
}

// run dispatches the sub-commands.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	if len(args) > 0 && args[0] == "token" {
		return tokenCommand(ctx, cfg, args[1:], stdout)
	}
	if len(args) > 0 && args[0] != "serve" {
		return fmt.Errorf("unknown command %q (commands: serve, token)", args[0])
	}
	app, err := NewApp(ctx, cfg)
	if err != nil {
		return err
	}
	defer app.Close()
	if err := app.Listen(":" + cfg.Port); err != nil {
		return err
	}
	if err := app.printWelcome(ctx, stdout); err != nil {
		return err
	}
	return app.Serve(ctx)
}

// App is the wired gateway: tests start the real thing on port 0.
type App struct {
	cfg      config
	db       *db.DB
	redis    redis.UniversalClient
	cache    *cache.Cache
	authz    *authz.Service
	tokens   *auth.Tokens
	handler  http.Handler
	server   *http.Server
	listener net.Listener
}

// NewApp opens the database (migrating it and ensuring roles and the admin),
// the cache and the HTTP handler.
func NewApp(ctx context.Context, cfg config) (*App, error) {
	secret, err := cfg.jwtSecret()
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, tokens: auth.NewTokens(secret)}
	if err := a.openDB(ctx); err != nil {
		a.Close()
		return nil, err
	}
	if err := a.openCache(); err != nil {
		a.Close()
		return nil, err
	}
	a.authz = authz.NewService(a.db.Client, a.cache, a.db.Postgres)
	var persisted graphql.Cache[string]
	if a.redis != nil {
		persisted = cache.NewQueryStore(a.redis, cfg.CachePrefix, 24*time.Hour, cfg.Redis.Timeout)
	}
	a.handler = httpapi.New(httpapi.Config{
		DB:               a.db.Client,
		Authz:            a.authz,
		Tokens:           a.tokens,
		Introspection:    cfg.development(),
		Playground:       cfg.development(),
		Limits:           cfg.Limits,
		LoaderWait:       cfg.LoaderWait,
		Ready:            a.ready,
		Metrics:          a.metrics(),
		RateLimiter:      ratelimit.New(a.redis, cfg.CachePrefix+"ratelimit:", cfg.RateLimit, cfg.Redis.Timeout),
		PersistedQueries: persisted,
		CORSOrigins:      cfg.CORSOrigins,
	})
	return a, nil
}

func (a *App) openDB(ctx context.Context) error {
	if a.cfg.embedded() {
		if err := os.MkdirAll(a.cfg.DataDir, 0o700); err != nil {
			return fmt.Errorf("create data dir: %w", err)
		}
	}
	d, err := db.Open(a.cfg.DatabaseURL, a.cfg.sqlitePath(), db.Options{})
	if err != nil {
		return err
	}
	a.db = d
	if err := d.Migrate(ctx); err != nil {
		return err
	}
	if _, err := d.Bootstrap(ctx, a.cfg.AdminEmail); err != nil {
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
	cacheCfg := cache.Config{TTL: a.cfg.CacheTTL}
	if a.cfg.Redis.Configured() {
		client, err := cache.NewRedisClient(a.cfg.Redis)
		if err != nil {
			return err
		}
		a.redis = client
		store = cache.NewRedisStore(client, a.cfg.CachePrefix, 2*cacheCfg.MaxTTL())
		cacheCfg.OpTimeout = a.cfg.Redis.Timeout
	}
	a.cache = cache.New(store, cacheCfg)
	return nil
}

func (a *App) metrics() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(a.cache.Collector())
	reg.MustRegister(collectors.NewDBStatsCollector(a.db.SQL, "gateway"))
	if a.redis != nil {
		reg.MustRegister(cache.NewPoolCollector(a.redis))
	}
	return reg
}

// ready pings the database and, when configured, Redis.
func (a *App) ready(ctx context.Context) map[string]error {
	status := map[string]error{"database": a.db.Ping(ctx)}
	if a.redis != nil {
		status["redis"] = a.redis.Ping(ctx).Err()
	}
	return status
}

// Handler returns the HTTP handler (for tests that drive it in-process).
func (a *App) Handler() http.Handler { return a.handler }

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
	errc := make(chan error, 1)
	go func() { errc <- a.server.Serve(a.listener) }()
	slog.Info("serving", "url", a.URL(), "env", a.cfg.Env, "cache", a.cache.Backend())
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.server.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	slog.Info("stopped")
	return nil
}

// Close releases the cache, Redis and the database.
func (a *App) Close() {
	if a.cache != nil {
		a.cache.Close()
	}
	if a.redis != nil {
		_ = a.redis.Close()
	}
	if a.db != nil {
		_ = a.db.Close()
	}
}

// printWelcome tells a developer where the playground is and gives them a
// token for the admin.
func (a *App) printWelcome(ctx context.Context, w io.Writer) error {
	if !a.cfg.development() {
		return nil
	}
	token, err := a.tokenFor(ctx, a.cfg.AdminEmail)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "authz-gateway is ready.\n  Playground: %s/\n  GraphQL:    %s/graphql\n  Admin token (%s), paste into the playground's headers as\n  {\"Authorization\": \"Bearer %s\"}\n",
		a.URL(), a.URL(), a.cfg.AdminEmail, token)
	return err
}

func (a *App) tokenFor(ctx context.Context, email string) (string, error) {
	u, err := a.db.Client.User.Query().
		Where(user.Email(authz.NormalizeEmail(email))).
		Only(reqctx.NewSystemContext(ctx))
	if err != nil {
		return "", fmt.Errorf("no user with email %q: %w", email, err)
	}
	return a.tokens.Issue(u.ID, a.cfg.TokenTTL)
}

// tokenCommand prints exactly one line on stdout: a token for the user.
func tokenCommand(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	email := fs.String("email", "", "email of the user the token is for")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *email == "" {
		return errors.New("token: --email is required")
	}
	app, err := NewApp(ctx, cfg)
	if err != nil {
		return err
	}
	defer app.Close()
	token, err := app.tokenFor(ctx, *email)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, token)
	return err
}

// loadOrCreateSecret reads the secret file, creating it with 32 random bytes
// (hex) the first time.
func loadOrCreateSecret(path string) ([]byte, error) {
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return []byte(strings.TrimSpace(string(b))), nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, err
	}
	secret := hex.EncodeToString(raw[:])
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return []byte(secret), nil
}
