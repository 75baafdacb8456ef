package app

import (
	"testing"
	"time"

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
}
