package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"authz-gateway/internal/testenv"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func infoField(t *testing.T, info, name string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + name + `:(\S+)`).FindStringSubmatch(info)
	require.NotNil(t, m, name)
	v, err := strconv.ParseFloat(strings.TrimSpace(m[1]), 64)
	require.NoError(t, err)
	return v
}

// Redis health in /metrics: present, moving under traffic, and the same
// figures INFO gives (a Redis of its own with a small maxmemory, filled
// until it evicts).
func TestMetrics_RedisHealthMatchesInfo(t *testing.T) {
	server := testenv.StartRedis(t, "--maxmemory", "4mb", "--maxmemory-policy", "allkeys-lru")
	g := testenv.NewGateway(t, testenv.Options{RedisAddr: server.Addr, Prefix: "gw:"})
	ctx := context.Background()

	pipelinesBefore := g.MustMetric(t, `authz_redis_command_seconds_count{command="pipeline"}`)
	w := testenv.NewWorld(t, g.DB.Client)
	for i := range 20 {
		u := w.User(fmt.Sprintf("m%d@test.example", i))
		testenv.MustOK(t, g.Do(t, g.Token(t, u), `{ me { permissions } }`, nil))
	}
	assert.Greater(t, g.MustMetric(t, `authz_redis_command_seconds_count{command="pipeline"}`), pipelinesBefore,
		"command latency moves under traffic")
	assert.Positive(t, g.MustMetric(t, "authz_redis_prefix_keys_estimate"), "the cache's keys are seen")

	// Fill Redis past maxmemory from outside the gateway: it evicts.
	junk := strings.Repeat("x", 10_000)
	for i := range 1000 {
		require.NoError(t, g.Redis.Set(ctx, fmt.Sprintf("junk:%d", i), junk, 0).Err())
	}
	info, err := g.Redis.Info(ctx, "memory", "stats", "clients", "replication").Result()
	require.NoError(t, err)
	evicted := infoField(t, info, "evicted_keys")
	require.Positive(t, evicted, "Redis evicted")
	// The collector reads INFO at most every 5 s, whatever the scrape rate;
	// once it has read again, its figure lies between INFO's just before
	// and just after the scrape (the gateway's own background writes may
	// evict a little more meanwhile).
	infoEvicted := func() float64 {
		info, err := g.Redis.Info(ctx, "stats").Result()
		if err != nil {
			return -1
		}
		m := regexp.MustCompile(`(?m)^evicted_keys:(\d+)`).FindStringSubmatch(info)
		if m == nil {
			return -1
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		return v
	}
	require.Eventually(t, func() bool {
		before := infoEvicted()
		v, ok := g.Metric("authz_redis_evicted_keys_total")
		return ok && v >= evicted && before <= v && v <= infoEvicted()
	}, 10*time.Second, 100*time.Millisecond)
	assert.Equal(t, infoField(t, info, "maxmemory"), g.MustMetric(t, "authz_redis_max_memory_bytes"))
	assert.InEpsilon(t, infoField(t, info, "used_memory"), g.MustMetric(t, "authz_redis_used_memory_bytes"), 0.2)
	assert.Equal(t, 1.0, g.MustMetric(t, `authz_redis_role{role="master"}`))
	assert.Equal(t, 1.0, g.MustMetric(t, "authz_redis_up"))
	assert.Positive(t, g.MustMetric(t, "authz_redis_connected_clients"))
}

// The Grafana dashboard in docs/grafana plots only metrics the gateway
// exports, and every family the gateway exports (issue 19: 10 of 31 were
// missing).
func TestMetrics_GrafanaDashboardUsesExportedMetrics(t *testing.T) {
	dashboard, err := os.ReadFile("../docs/grafana/authz-gateway.json")
	require.NoError(t, err)
	var parsed map[string]any
	require.NoError(t, json.Unmarshal(dashboard, &parsed), "valid JSON")

	g := testenv.NewGateway(t, testenv.Options{})
	testenv.MustOK(t, g.Do(t, g.Token(t, g.Admin.ID), `{ me { permissions } }`, nil))
	rec := httptest.NewRecorder()
	g.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	exported := rec.Body.String()

	names := regexp.MustCompile(`authz_[a-z_]+`).FindAllString(string(dashboard), -1)
	require.NotEmpty(t, names)
	plotted := map[string]bool{}
	for _, name := range names {
		base := strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_count")
		plotted[base] = true
		assert.Contains(t, exported, "# HELP "+base+" ", "the dashboard plots %s", name)
	}
	for _, m := range regexp.MustCompile(`# HELP (authz_[a-z_]+) `).FindAllStringSubmatch(exported, -1) {
		assert.True(t, plotted[m[1]], "the dashboard does not plot %s", m[1])
	}
}
