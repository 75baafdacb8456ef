package app

import (
	"authz-gateway/warm"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"authz-gateway/auth"
	"authz-gateway/cache"
	"authz-gateway/db"
	"authz-gateway/graph"
	"authz-gateway/ratelimit"
	"authz-gateway/redisconn"
	"authz-gateway/tracing"
)

// Config is everything the environment decides (docs/configuration.md).
type Config struct {
	Port        string
	DatabaseURL string
	// DatabaseListenURL is where the instance's one listening connection
	// goes (default DatabaseURL): a session of its own, so it must reach
	// PostgreSQL directly when DatabaseURL goes through a transaction
	// pooler.
	DatabaseListenURL string
	DataDir           string
	Redis             redisconn.Options
	CachePrefix       string
	CacheTTL          map[cache.Kind]time.Duration
	JWTSecret         string
	TokenTTL          time.Duration
	AdminEmail        string
	Env               string
	SeedDemo          bool
	Limits            Limits
	LoaderWait        time.Duration
	RateLimit         ratelimit.Limit
	CORSOrigins       []string
	// TokenMaxAge refuses tokens issued longer ago than this (0: only exp).
	TokenMaxAge time.Duration
	// LogLevel is LOG_LEVEL (debug, info, warn, error): debug by default in
	// development, info otherwise.
	LogLevel slog.Level
	// MetricsAddr serves /metrics on its own address (e.g. 127.0.0.1:9090)
	// instead of beside the API, so it need not face clients.
	MetricsAddr string
	// AuditRetention prunes delivered access-change log entries older than
	// this.
	AuditRetention time.Duration
	// L1Bytes bounds the in-process tier kept in front of Redis (0: none);
	// L1Lease is how long one confirmation lets it answer, and so how long a
	// write may wait for an instance that went silent. The L1 needs Redis
	// and PostgreSQL (the embedded default has one in-process store).
	L1Bytes int64
	L1Lease time.Duration
	// Warm is cache warming (WARM_USERS, WARM_WINDOW, WARM_SHARE); WarmReady
	// is how long readiness may wait for the first warm run.
	Warm      warm.Config
	WarmReady time.Duration
	// RefreshAhead recomputes values read often shortly before they expire
	// (CACHE_REFRESH_AHEAD, default on).
	RefreshAhead bool
	// MigrateAtStart migrates the database at start (MIGRATE_AT_START,
	// default on): under an advisory lock, once for instances starting
	// together. Off, the `migrate` command must have run first, and a start
	// refuses a database whose schema is not this binary's.
	MigrateAtStart bool
	// Tracing exports OpenTelemetry spans with OTLP/HTTP: on when
	// OTEL_EXPORTER_OTLP_ENDPOINT (or ..._TRACES_ENDPOINT) is set.
	Tracing bool
	// Identity is the team's identity provider (AUTH_*): off while
	// Identity.Issuer is empty.
	Identity IdentityProvider
}

// IdentityProvider says whose tokens the gateway accepts besides its own.
type IdentityProvider struct {
	// Issuer is the required `iss` (AUTH_ISSUER); its OIDC discovery
	// document names the key set unless JWKSURL (AUTH_JWKS_URL) does.
	Issuer  string
	JWKSURL string
	// Audience is the required `aud` (AUTH_AUDIENCE).
	Audience string
	// UserClaim maps a token to a user: email or sub (AUTH_USER_CLAIM).
	UserClaim auth.UserClaim
	// Provision creates an unknown user on first sight (AUTH_PROVISION).
	Provision bool
	// GroupsClaim names the claim listing the caller's groups
	// (AUTH_GROUPS_CLAIM, e.g. "groups"): they decide the caller's
	// memberships of the teams that mirror a group. "": not read.
	GroupsClaim string
}

// Enabled reports whether an identity provider is configured.
func (p IdentityProvider) Enabled() bool { return p.Issuer != "" }

// DefaultMaxInFlight is MAX_IN_FLIGHT's default. Each request in flight
// holds a goroutine and its body; at saturation (about 15,000 checks/s on 2
// cores, ~1 ms each) a thousand in flight is well under 100 ms of queue,
// far within REQUEST_TIMEOUT, and a bounded amount of memory.
const DefaultMaxInFlight = 1000

// Limits bound what one request may ask for and how long it may take.
type Limits struct {
	MaxDepth      int
	MaxComplexity int
	MaxAliases    int
	MaxTokens     int
	MaxFields     int
	MaxBodyBytes  int64
	// MaxResponseBytes refuses answers larger than this.
	MaxResponseBytes int
	// RequestTimeout is the deadline of every request's work.
	RequestTimeout time.Duration
	// MaxInFlight bounds the requests served at once; past it the gateway
	// sheds load (429 RATE_LIMITED). 0 turns the bound off.
	MaxInFlight int
	// DBTimeout bounds every database statement (and connecting), so a hung
	// database costs a request this much, not forever.
	DBTimeout time.Duration
	// DBMaxConns bounds the instance's PostgreSQL connection pool (its one
	// listening connection comes on top).
	DBMaxConns int
}

// embedded reports whether this is the embedded default (SQLite file).
func (c Config) embedded() bool { return c.DatabaseURL == "" }

// Development reports whether the playground and introspection are on.
func (c Config) Development() bool { return c.Env == "development" }

func (c Config) sqlitePath() string { return filepath.Join(c.DataDir, "gateway.db") }

// LoadConfig reads the environment. getenv is os.Getenv in production and a
// map in tests.
func LoadConfig(getenv func(string) string) (Config, error) {
	p := envParser{getenv: getenv}
	c := Config{
		Port:              p.str("PORT", "8080"),
		DatabaseURL:       p.str("DATABASE_URL", ""),
		DatabaseListenURL: p.str("DATABASE_LISTEN_URL", ""),
		DataDir:           p.str("DATA_DIR", ".data"),
		CachePrefix:       p.str("CACHE_PREFIX", ""),
		JWTSecret:         p.str("JWT_SECRET", ""),
		TokenTTL:          p.duration("TOKEN_TTL", 24*time.Hour),
		AdminEmail:        auth.NormalizeEmail(p.str("ADMIN_EMAIL", "admin@example.com")),
		LoaderWait:        p.duration("LOADER_WAIT", 0),
		MetricsAddr:       p.str("METRICS_ADDR", ""),
		AuditRetention:    p.duration("AUDIT_RETENTION", 90*24*time.Hour),
		CORSOrigins:       p.list("CORS_ORIGINS"),
		L1Bytes:           int64(p.int("CACHE_L1_BYTES", 64<<20)),
		L1Lease:           p.duration("CACHE_L1_LEASE", 2*time.Second),
		Warm: warm.Config{
			Users:  p.int("WARM_USERS", 1000),
			Window: p.duration("WARM_WINDOW", 24*time.Hour),
			Share:  p.float("WARM_SHARE", 0.25),
		},
		WarmReady:    p.duration("WARM_READY_MAX", 5*time.Second),
		RefreshAhead: p.bool("CACHE_REFRESH_AHEAD", true),
		Tracing:      tracing.Configured(getenv),
		Identity: IdentityProvider{
			Issuer:      p.str("AUTH_ISSUER", ""),
			JWKSURL:     p.str("AUTH_JWKS_URL", ""),
			Audience:    p.str("AUTH_AUDIENCE", ""),
			UserClaim:   auth.UserClaim(p.str("AUTH_USER_CLAIM", string(auth.ClaimEmail))),
			Provision:   p.bool("AUTH_PROVISION", false),
			GroupsClaim: p.str("AUTH_GROUPS_CLAIM", ""),
		},
		MigrateAtStart: p.bool("MIGRATE_AT_START", true),
		Redis: redisconn.Options{
			URL:            p.str("REDIS_URL", ""),
			Host:           p.str("REDIS_HOST", ""),
			Port:           p.str("REDIS_PORT", "6379"),
			DB:             p.int("REDIS_DB", 0),
			Password:       p.str("REDIS_PASSWORD", ""),
			SentinelMaster: p.str("REDIS_SENTINEL_MASTER", ""),
			SentinelAddrs:  p.list("REDIS_SENTINEL_ADDRS"),
			ClusterAddrs:   p.list("REDIS_CLUSTER_ADDRS"),
			Timeout:        p.duration("REDIS_TIMEOUT", 100*time.Millisecond),
		},
		RateLimit: ratelimit.Limit{
			PerSecond: p.int("RATE_LIMIT", 50),
			Burst:     p.int("RATE_LIMIT_BURST", 100),
		},
		Limits: Limits{
			MaxDepth:         p.int("MAX_QUERY_DEPTH", graph.DefaultMaxDepth),
			MaxComplexity:    p.int("MAX_QUERY_COMPLEXITY", graph.DefaultMaxComplexity),
			MaxAliases:       p.int("MAX_QUERY_ALIASES", graph.DefaultMaxAliases),
			MaxTokens:        p.int("MAX_QUERY_TOKENS", graph.DefaultMaxTokens),
			MaxFields:        p.int("MAX_QUERY_FIELDS", graph.DefaultMaxFields),
			MaxBodyBytes:     int64(p.int("MAX_BODY_BYTES", 1<<20)),
			MaxResponseBytes: p.int("MAX_RESPONSE_BYTES", graph.DefaultMaxResponseBytes),
			RequestTimeout:   p.duration("REQUEST_TIMEOUT", 10*time.Second),
			MaxInFlight:      p.int("MAX_IN_FLIGHT", DefaultMaxInFlight),
			DBTimeout:        p.duration("DB_TIMEOUT", 3*time.Second),
			DBMaxConns:       p.int("DB_MAX_CONNS", db.DefaultMaxConns),
		},
	}
	// The embedded default is a development setup by nature; a gateway with a
	// real database is production unless told otherwise.
	defaultEnv := "production"
	if c.embedded() {
		defaultEnv = "development"
	}
	c.Env = p.str("GATEWAY_ENV", defaultEnv)
	c.SeedDemo = p.bool("SEED_DEMO", c.embedded())
	defaultLevel := "info"
	if c.Env == "development" {
		defaultLevel = "debug"
	}
	if err := c.LogLevel.UnmarshalText([]byte(p.str("LOG_LEVEL", defaultLevel))); err != nil {
		p.fail("LOG_LEVEL", "must be debug, info, warn or error")
	}
	if p.str("TOKEN_MAX_AGE", "") != "" {
		c.TokenMaxAge = p.duration("TOKEN_MAX_AGE", 0)
	}
	defaultTTL := p.duration("CACHE_TTL", cache.DefaultTTL)
	c.CacheTTL = map[cache.Kind]time.Duration{}
	for _, kind := range cache.Kinds {
		c.CacheTTL[kind] = p.duration("CACHE_TTL_"+strings.ToUpper(string(kind)), defaultTTL)
	}
	if c.DatabaseURL != "" && !db.IsPostgresURL(c.DatabaseURL) {
		p.fail("DATABASE_URL", "must be a postgres:// or postgresql:// URL")
	}
	if c.DatabaseListenURL != "" && (c.DatabaseURL == "" || !db.IsPostgresURL(c.DatabaseListenURL)) {
		p.fail("DATABASE_LISTEN_URL", "must be a postgres:// or postgresql:// URL, beside DATABASE_URL")
	}
	if c.Limits.DBMaxConns < 1 {
		p.fail("DB_MAX_CONNS", "must be at least 1")
	}
	if c.Env != "development" && c.Env != "production" {
		p.fail("GATEWAY_ENV", "must be development or production")
	}
	c.Identity.check(&p, c.Env == "development")
	return c, p.err
}

// envParser reads typed variables, keeping the first error.
type envParser struct {
	getenv func(string) string
	err    error
}

func (p *envParser) fail(name, msg string) {
	if p.err == nil {
		p.err = fmt.Errorf("%s %s", name, msg)
	}
}

func (p *envParser) str(name, def string) string {
	if v := strings.TrimSpace(p.getenv(name)); v != "" {
		return v
	}
	return def
}

// list reads a comma-separated list.
func (p *envParser) list(name string) []string {
	var out []string
	for _, item := range strings.Split(p.str(name, ""), ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func (p *envParser) int(name string, def int) int {
	v := p.str(name, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		p.fail(name, "must be a non-negative integer")
	}
	return n
}

func (p *envParser) float(name string, def float64) float64 {
	v := p.str(name, "")
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 || f > 1 {
		p.fail(name, "must be a fraction in (0, 1]")
	}
	return f
}

func (p *envParser) bool(name string, def bool) bool {
	v := p.str(name, "")
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.fail(name, "must be true or false")
	}
	return b
}

// duration accepts Go durations ("90s", "1h") or plain seconds ("3600").
func (p *envParser) duration(name string, def time.Duration) time.Duration {
	v := p.str(name, "")
	if v == "" {
		return def
	}
	if secs, err := strconv.Atoi(v); err == nil && secs > 0 {
		return time.Duration(secs) * time.Second
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		p.fail(name, "must be a positive duration (e.g. 3600 or 1h)")
	}
	return d
}

// check refuses identity provider settings that cannot work, or that
// anyone on the network path could subvert: outside development the key
// set is fetched over https only (over http, whoever answers for the
// provider chooses the keys, and so every identity).
func (ip IdentityProvider) check(p *envParser, development bool) {
	switch {
	case ip.UserClaim != auth.ClaimEmail && ip.UserClaim != auth.ClaimSub:
		p.fail("AUTH_USER_CLAIM", "must be email or sub")
	case !ip.Enabled():
		if ip.JWKSURL != "" || ip.Audience != "" || ip.Provision {
			p.fail("AUTH_ISSUER", "is required with AUTH_JWKS_URL, AUTH_AUDIENCE or AUTH_PROVISION (it is the required iss of the provider's tokens)")
		}
	case ip.Audience == "":
		p.fail("AUTH_AUDIENCE", "is required with AUTH_ISSUER (a token meant for another service must not be accepted)")
	case !isHTTPURL(ip.Issuer):
		p.fail("AUTH_ISSUER", "must be an http(s) URL")
	case ip.JWKSURL != "" && !isHTTPURL(ip.JWKSURL):
		p.fail("AUTH_JWKS_URL", "must be an http(s) URL")
	case !development && !strings.HasPrefix(ip.Issuer, "https://"):
		p.fail("AUTH_ISSUER", "must be an https:// URL outside development (GATEWAY_ENV=development allows http)")
	case !development && ip.JWKSURL != "" && !strings.HasPrefix(ip.JWKSURL, "https://"):
		p.fail("AUTH_JWKS_URL", "must be an https:// URL outside development (GATEWAY_ENV=development allows http)")
	}
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

// check refuses settings that contradict each other.
func (c Config) check() error {
	// A write may wait up to a lease for an instance that went silent
	// before it returns; a request deadline shorter than that would answer
	// the client while the write's wait is still under way.
	if c.l1() && c.Limits.RequestTimeout <= c.L1Lease {
		return fmt.Errorf("REQUEST_TIMEOUT (%s) must be longer than CACHE_L1_LEASE (%s): a write may wait a lease for a silent instance",
			c.Limits.RequestTimeout, c.L1Lease)
	}
	return nil
}

// l1 reports whether the in-process tier runs: it needs Redis behind it
// and PostgreSQL for the fleet's leases.
func (c Config) l1() bool { return c.L1Bytes > 0 && c.Redis.Configured() && !c.embedded() }

// MinSecretBytes is the shortest JWT_SECRET accepted outside development: an
// HS256 key shorter than the hash is guessable offline from one token.
const MinSecretBytes = 32

// jwtSecret returns JWT_SECRET, or in the embedded default a secret generated
// once and kept beside the SQLite file. Outside development a secret is
// required: a generated one would silently differ between instances.
func (c Config) jwtSecret() ([]byte, error) {
	if c.JWTSecret != "" {
		if len(c.JWTSecret) < MinSecretBytes && !c.Development() {
			return nil, fmt.Errorf("JWT_SECRET must be at least %d bytes (it is %d)", MinSecretBytes, len(c.JWTSecret))
		}
		if err := guessableSecret(c.JWTSecret); err != nil && !c.Development() {
			return nil, fmt.Errorf("JWT_SECRET %w: use random bytes, e.g. $(openssl rand -hex 32)", err)
		}
		return []byte(c.JWTSecret), nil
	}
	if !c.Development() || !c.embedded() {
		return nil, fmt.Errorf("JWT_SECRET is required (only the embedded default with GATEWAY_ENV=development generates one)")
	}
	return loadOrCreateSecret(filepath.Join(c.DataDir, "jwt-secret"))
}

// placeholderWords mark a value copied from an example and never replaced
// (the shipped manifests' values say CHANGE-ME): anyone who read the
// example could mint an admin's token with it.
var placeholderWords = []string{"change-me", "changeme", "change_me", "replace-me", "replaceme", "placeholder", "your-secret"}

// minSecretEntropyBits is the least entropy a secret must show, estimated
// from how its characters are spread (hex from `openssl rand -hex 16`
// shows about 115 bits, a word repeated far less).
const minSecretEntropyBits = 100

// guessableSecret says why a secret can be guessed: a placeholder from an
// example, a repetition of a shorter text, or too little entropy.
func guessableSecret(secret string) error {
	lower := strings.ToLower(secret)
	for _, w := range placeholderWords {
		if strings.Contains(lower, w) {
			return fmt.Errorf("is a placeholder (it contains %q)", w)
		}
	}
	for k := 1; k <= len(secret)/2; k++ {
		if len(secret)%k == 0 && strings.Repeat(secret[:k], len(secret)/k) == secret {
			return fmt.Errorf("repeats a shorter text %d times", len(secret)/k)
		}
	}
	counts := map[byte]int{}
	for i := 0; i < len(secret); i++ {
		counts[secret[i]]++
	}
	bits := 0.0
	for _, n := range counts {
		p := float64(n) / float64(len(secret))
		bits -= float64(n) * math.Log2(p)
	}
	if bits < minSecretEntropyBits {
		return fmt.Errorf("has too little entropy (about %.0f bits, at least %d needed)", bits, minSecretEntropyBits)
	}
	return nil
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

// existingSecret is JWT_SECRET, or the embedded default's secret kept beside
// its SQLite file. Unlike jwtSecret it never creates one: a command that only
// reads (token) must not.
func (c Config) existingSecret() ([]byte, error) {
	if c.JWTSecret != "" || !c.Development() || !c.embedded() {
		return c.jwtSecret()
	}
	b, err := os.ReadFile(filepath.Join(c.DataDir, "jwt-secret"))
	if err != nil || len(strings.TrimSpace(string(b))) == 0 {
		return nil, fmt.Errorf("no JWT secret in %s yet: start the gateway once (make run), or set JWT_SECRET", c.DataDir)
	}
	return []byte(strings.TrimSpace(string(b))), nil
}
