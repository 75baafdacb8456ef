package app

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"authz-gateway/auth"
	"authz-gateway/redisconn"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadConfig(t *testing.T) {
	cfg, err := LoadConfig(envOf(map[string]string{"CACHE_TTL": "600", "CACHE_TTL_PERMISSIONS": "2m"}))
	require.NoError(t, err)
	assert.Equal(t, "development", cfg.Env, "the embedded default is a development setup")
	assert.Equal(t, 2*time.Minute, cfg.CacheTTL["permissions"])
	assert.Equal(t, 10*time.Minute, cfg.CacheTTL["scope_summary"])

	cfg, err = LoadConfig(envOf(map[string]string{"DATABASE_URL": "postgres://x@y/z"}))
	require.NoError(t, err)
	assert.Equal(t, "production", cfg.Env)

	_, err = LoadConfig(envOf(map[string]string{"DATABASE_URL": "mysql://x"}))
	assert.Error(t, err)
	_, err = LoadConfig(envOf(map[string]string{"CACHE_TTL": "soon"}))
	assert.Error(t, err)

	cfg, err = LoadConfig(envOf(map[string]string{"CORS_ORIGINS": " https://a.example, ,https://b.example ", "REDIS_CLUSTER_ADDRS": "a:1,b:2"}))
	require.NoError(t, err)
	assert.Equal(t, []string{"https://a.example", "https://b.example"}, cfg.CORSOrigins)
	assert.Equal(t, []string{"a:1", "b:2"}, cfg.Redis.ClusterAddrs)

	// The pool's bound and the listener's own URL (a transaction pooler in
	// front of the pool, the listener direct).
	cfg, err = LoadConfig(envOf(map[string]string{"DATABASE_URL": "postgres://pooler/z?binary_parameters=yes",
		"DATABASE_LISTEN_URL": "postgres://direct/z", "DB_MAX_CONNS": "4"}))
	require.NoError(t, err)
	assert.Equal(t, 4, cfg.Limits.DBMaxConns)
	assert.Equal(t, "postgres://direct/z", cfg.DatabaseListenURL)
	cfg, err = LoadConfig(envOf(map[string]string{"DATABASE_URL": "postgres://x@y/z"}))
	require.NoError(t, err)
	assert.Equal(t, 20, cfg.Limits.DBMaxConns, "default")
	_, err = LoadConfig(envOf(map[string]string{"DATABASE_URL": "postgres://x@y/z", "DB_MAX_CONNS": "0"}))
	assert.ErrorContains(t, err, "DB_MAX_CONNS")
	_, err = LoadConfig(envOf(map[string]string{"DATABASE_LISTEN_URL": "postgres://direct/z"}))
	assert.ErrorContains(t, err, "DATABASE_LISTEN_URL", "a listener without a database")
}

// TestConfig_WeakSecretRefusedInProduction: a 1-byte JWT_SECRET was accepted
// in production (issue 9, repro 14).
func TestConfig_WeakSecretRefusedInProduction(t *testing.T) {
	cfg, err := LoadConfig(envOf(map[string]string{"DATABASE_URL": "postgres://x@y/z", "JWT_SECRET": "x"}))
	require.NoError(t, err)
	_, err = cfg.jwtSecret()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "at least 32 bytes")

	cfg.JWTSecret = "5f1c9a7e3b2d8046c1e9f7a3b5d20c4e"
	_, err = cfg.jwtSecret()
	assert.NoError(t, err)
}

// TestConfig_GuessableSecretRefusedInProduction: issue 31, finding 9: the
// example manifest's placeholder (42 bytes) was accepted, so anyone could
// mint an admin's token. Placeholders, repetitions and low-entropy
// secrets are refused at start; random ones of the usual forms pass.
func TestConfig_GuessableSecretRefusedInProduction(t *testing.T) {
	cfg, err := LoadConfig(envOf(map[string]string{"DATABASE_URL": "postgres://x@y/z"}))
	require.NoError(t, err)
	for _, weak := range []string{
		"CHANGE-ME-to-at-least-32-random-bytes-0000",
		"please-replace-me-with-a-real-secret-value",
		"0123456789abcdef0123456789abcdef",
		"test-secret-test-secret-test-secret",
		strings.Repeat("s", 32),
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab",
	} {
		cfg.JWTSecret = weak
		_, err := cfg.jwtSecret()
		assert.Error(t, err, weak)
	}
	for _, strong := range []string{
		"9b1f0c6e2a7d4e83b5c1f9a0d7e6b2c4a8f3e1d5c9b7a6f0e2d4c8b1a3f5e7d9", // openssl rand -hex 32
		"3q2+7w9vF0aZk1PnXc4mB8tRyL6uJhG5sDeQo2WxYi0=",                     // openssl rand -base64 32
		"c4e8a6f1b3d9c7e5a205f1c9a7e3b2d8",                                 // openssl rand -hex 16
	} {
		cfg.JWTSecret = strong
		_, err := cfg.jwtSecret()
		assert.NoError(t, err, strong)
	}
	// Every value a shipped manifest carries is refused.
	manifests, err := filepath.Glob("../deploy/kubernetes/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, manifests)
	found := 0
	for _, m := range manifests {
		b, err := os.ReadFile(m)
		require.NoError(t, err)
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "JWT_SECRET:"); ok {
				found++
				cfg.JWTSecret = strings.Trim(strings.TrimSpace(v), `"'`)
				_, err := cfg.jwtSecret()
				assert.Error(t, err, "%s: %s", m, cfg.JWTSecret)
			}
		}
	}
	assert.Positive(t, found, "the manifests carry a JWT_SECRET")
}

// Issue 17, finding 9: a request deadline that could end a write's wait
// for the fleet is refused at start.
func TestConfig_RequestTimeoutMustOutlastTheLease(t *testing.T) {
	env := map[string]string{"DATABASE_URL": "postgres://x@y/z", "REDIS_URL": "redis://127.0.0.1:1",
		"JWT_SECRET": "5f1c9a7e3b2d8046c1e9f7a3b5d20c4e", "REQUEST_TIMEOUT": "1s"}
	cfg, err := LoadConfig(envOf(env))
	require.NoError(t, err)
	_, err = New(context.Background(), cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "REQUEST_TIMEOUT (1s) must be longer than CACHE_L1_LEASE (2s)")

	env["CACHE_L1_BYTES"] = "0" // no L1: no wait
	cfg, err = LoadConfig(envOf(env))
	require.NoError(t, err)
	assert.NoError(t, cfg.check())
}

// A malformed connection URL is reported without its password.
func TestConfig_StartErrorsHideURLPasswords(t *testing.T) {
	for _, env := range []map[string]string{
		{"DATABASE_URL": "postgres://u:s3cret@host:notaport/db"},
		{"DATABASE_URL": "postgres://u:s3cret@[bad/db"},
	} {
		env["JWT_SECRET"] = "5f1c9a7e3b2d8046c1e9f7a3b5d20c4e"
		cfg, err := LoadConfig(envOf(env))
		require.NoError(t, err)
		_, err = New(context.Background(), cfg)
		require.Error(t, err, "%v", env)
		assert.NotContains(t, err.Error(), "s3cret")
		assert.Contains(t, err.Error(), "xxxxx", "the URL is still named")
	}
	_, err := redisconn.NewClient(redisconn.Options{URL: "redis://:s3cret@[bad/0"})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "s3cret")
}

// TestConfig_IdentityProvider: the AUTH_* settings are read, and the
// combinations that cannot work refuse to start, naming the setting.
func TestConfig_IdentityProvider(t *testing.T) {
	cfg, err := LoadConfig(envOf(map[string]string{"AUTH_ISSUER": "https://id.example.com/", "AUTH_AUDIENCE": "gw",
		"AUTH_USER_CLAIM": "sub", "AUTH_PROVISION": "true"}))
	require.NoError(t, err)
	assert.Equal(t, IdentityProvider{Issuer: "https://id.example.com/", Audience: "gw", UserClaim: auth.ClaimSub, Provision: true}, cfg.Identity)
	cfg, err = LoadConfig(envOf(nil))
	require.NoError(t, err)
	assert.False(t, cfg.Identity.Enabled())
	assert.Equal(t, auth.ClaimEmail, cfg.Identity.UserClaim, "email by default")

	for env, names := range map[string]map[string]string{
		"AUTH_AUDIENCE":   {"AUTH_ISSUER": "https://id.example.com"},
		"AUTH_USER_CLAIM": {"AUTH_ISSUER": "https://id.example.com", "AUTH_AUDIENCE": "gw", "AUTH_USER_CLAIM": "preferred_username"},
		"AUTH_ISSUER":     {"AUTH_AUDIENCE": "gw"},
		"AUTH_JWKS_URL":   {"AUTH_ISSUER": "https://id.example.com", "AUTH_AUDIENCE": "gw", "AUTH_JWKS_URL": "file:///etc/keys"},
	} {
		_, err := LoadConfig(envOf(names))
		if assert.Error(t, err, env) {
			assert.Contains(t, err.Error(), env)
		}
	}
	_, err = LoadConfig(envOf(map[string]string{"AUTH_ISSUER": "id.example.com", "AUTH_AUDIENCE": "gw"}))
	assert.ErrorContains(t, err, "AUTH_ISSUER")

	// Issue 31, finding 10: plain http only in development.
	_, err = LoadConfig(envOf(map[string]string{"DATABASE_URL": "postgres://x@y/z", "AUTH_ISSUER": "http://id.example.com", "AUTH_AUDIENCE": "gw"}))
	assert.ErrorContains(t, err, "AUTH_ISSUER must be an https:// URL")
	_, err = LoadConfig(envOf(map[string]string{"DATABASE_URL": "postgres://x@y/z", "AUTH_ISSUER": "https://id.example.com", "AUTH_AUDIENCE": "gw", "AUTH_JWKS_URL": "http://keys.example.com/jwks"}))
	assert.ErrorContains(t, err, "AUTH_JWKS_URL must be an https:// URL")
	_, err = LoadConfig(envOf(map[string]string{"AUTH_ISSUER": "http://127.0.0.1:4444", "AUTH_AUDIENCE": "gw", "GATEWAY_ENV": "development"}))
	assert.NoError(t, err)
}

// The memory limit follows the L1's bound (issue 21: 64 MiB of L1 was a
// 262-294 MB process), and only when there is an L1.
func TestConfig_MemoryLimitFollowsTheL1(t *testing.T) {
	env := map[string]string{"DATABASE_URL": "postgres://x@y/z", "REDIS_URL": "redis://127.0.0.1:1", "CACHE_L1_BYTES": "268435456"}
	cfg, err := LoadConfig(envOf(env))
	require.NoError(t, err)
	assert.Equal(t, int64(256<<20+128<<20), cfg.MemoryLimit())
	env["CACHE_L1_BYTES"] = "0"
	cfg, err = LoadConfig(envOf(env))
	require.NoError(t, err)
	assert.Zero(t, cfg.MemoryLimit(), "no L1, no limit")

	env["CACHE_L1_BYTES"] = "268435456"
	cfg, err = LoadConfig(envOf(env))
	require.NoError(t, err)
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	ApplyMemoryLimit(cfg, envOf(map[string]string{"GOMEMLIMIT": "1GiB"}))
	assert.Equal(t, before, debug.SetMemoryLimit(-1), "the operator's GOMEMLIMIT stands")
	ApplyMemoryLimit(cfg, envOf(nil))
	assert.Equal(t, cfg.MemoryLimit(), debug.SetMemoryLimit(-1))
}

// LOG_LEVEL: debug by default in development, where a refused token's
// reason is what a developer needs (issue 31, finding 10), info otherwise.
func TestConfig_LogLevel(t *testing.T) {
	cfg, err := LoadConfig(envOf(nil))
	require.NoError(t, err)
	assert.Equal(t, slog.LevelDebug, cfg.LogLevel, "the embedded default is development")
	cfg, err = LoadConfig(envOf(map[string]string{"DATABASE_URL": "postgres://x@y/z"}))
	require.NoError(t, err)
	assert.Equal(t, slog.LevelInfo, cfg.LogLevel)
	cfg, err = LoadConfig(envOf(map[string]string{"DATABASE_URL": "postgres://x@y/z", "LOG_LEVEL": "warn"}))
	require.NoError(t, err)
	assert.Equal(t, slog.LevelWarn, cfg.LogLevel)
	_, err = LoadConfig(envOf(map[string]string{"LOG_LEVEL": "chatty"}))
	assert.ErrorContains(t, err, "LOG_LEVEL")
}
