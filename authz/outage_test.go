package authz_test

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"authz-gateway/access"
	"authz-gateway/apperr"
	"authz-gateway/cache"
	"authz-gateway/internal/testenv"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// staleBound is docs/cache.md's promise ("Redis down") for a second instance: after Redis
// resumes, it serves an invalidation that was lost during the outage for at
// most this long (in practice one recovery interval, 20 ms).
const staleBound = 500 * time.Millisecond

func TestOutage_KilledRedisAnswersFromTheDatabase(t *testing.T) {
	redisServer := testenv.StartRedis(t)
	g := testenv.NewGateway(t, testenv.Options{RedisAddr: redisServer.Addr})
	w := testenv.NewWorld(t, g.DB.Client)
	c := newCatalog(w)
	u := w.User("survivor@test.example")
	w.Role(u, access.RoleViewer)
	scope := w.InProgram(u, c.A)
	admin := testenv.AsUser(g.Admin.ID)

	_, err := g.Authz.Reach(context.Background(), u) // warm
	require.NoError(t, err)
	redisServer.Kill()

	for range 20 {
		r, err := g.Authz.Reach(context.Background(), u)
		require.NoError(t, err, "no client error while Redis is down")
		assert.Equal(t, []int{c.a1, c.a2}, r.Projects)
		assert.True(t, r.Can(access.ProjectRead))
	}
	_, err = g.Authz.SetScopeActive(admin, scope, false)
	require.NoError(t, err, "mutations still work")
	r, err := g.Authz.Reach(context.Background(), u)
	require.NoError(t, err)
	assert.Empty(t, r.Projects, "and reads reflect them")

	stats := g.Cache.Stats(context.Background())
	assert.False(t, stats.Reachable)
	assert.Positive(t, stats.Bypassed)
	assert.Positive(t, stats.PerKind[cache.Permissions].Errors, "store errors are counted per kind")
}

func TestOutage_FrozenRedisNeverServesALostInvalidation(t *testing.T) {
	testenv.Slow(t, "a frozen Redis")
	redisServer := testenv.StartRedis(t)
	one := testenv.NewGateway(t, testenv.Options{RedisAddr: redisServer.Addr})
	two := testenv.NewGateway(t, testenv.Options{DatabaseURL: one.DatabaseURL, RedisAddr: redisServer.Addr})
	w := testenv.NewWorld(t, one.DB.Client)
	c := newCatalog(w)
	u := w.User("frozen@test.example")
	scope := w.InProject(u, c.b1)
	admin := testenv.AsUser(one.Admin.ID)
	grant := func(g *testenv.Gateway) bool {
		ids, err := projectIDs(g.Answers, u)
		require.NoError(t, err)
		return slices.Contains(ids, c.b1)
	}
	require.True(t, grant(one))
	require.True(t, grant(two)) // both instances hold the grant, in Redis

	require.NoError(t, redisServer.Freeze())
	_, err := one.Authz.SetScopeActive(admin, scope, false)
	require.NoError(t, err, "the revoke commits although its invalidation times out")
	assert.False(t, one.Cache.Stats(context.Background()).Trusted, "the instance knows its invalidation was lost")
	assert.False(t, grant(one), "during the outage: answered from the database")

	require.NoError(t, redisServer.Thaw())
	thawed := time.Now()
	// The old value is still in Redis. Neither instance may serve it: this one
	// at all, the other one no later than staleBound after the thaw.
	var lastStale time.Duration = -1
	for time.Since(thawed) < 2*time.Second {
		assert.False(t, grant(one), "this instance never serves the lost invalidation")
		if grant(two) {
			lastStale = time.Since(thawed)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("second instance served the revoked grant until %v after the thaw (-1: never)", lastStale)
	assert.Less(t, lastStale, staleBound)

	// Caching resumes: the store is trusted again and reads hit.
	require.Eventually(t, func() bool { return one.Cache.Stats(context.Background()).Trusted }, 3*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool {
		before := one.CacheHits()
		_, err := projectIDs(one.Answers, u)
		require.NoError(t, err)
		return one.CacheHits() > before
	}, 5*time.Second, 50*time.Millisecond, "reads hit the cache again")

	_, err = one.Authz.SetScopeActive(admin, scope, true)
	require.NoError(t, err)
	assert.True(t, grant(one))
	assert.True(t, grant(two))
}

func TestOutage_DatabaseDownDenies(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{Memory: true})
	u := testenv.NewWorld(t, g.DB.Client).User("nodb@test.example")
	require.NoError(t, g.DB.SQL.Close()) // the database is gone; nothing is cached
	_, err := g.Authz.Reach(context.Background(), u)
	require.Error(t, err, "no answer rather than a wrong one")
	assert.NotEqual(t, apperr.NotFound, apperr.CodeOf(err))
}

// Issue 19: with Redis unreachable the log says so once per kind, not once
// per sweep, probe or write (1,216 lines in 15 s before). Six seconds of
// reads and writes against a killed Redis: each message at most once.
func TestOutage_RedisDownDoesNotFloodTheLog(t *testing.T) {
	testenv.Slow(t, "a Redis outage, waited out")
	var logs testenv.SyncBuffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})))
	t.Cleanup(func() { slog.SetDefault(old) })

	redisServer := testenv.StartRedis(t)
	g := testenv.NewGateway(t, testenv.Options{RedisAddr: redisServer.Addr})
	w := testenv.NewWorld(t, g.DB.Client)
	c := newCatalog(w)
	u := w.User("quiet@test.example")
	w.Role(u, access.RoleViewer)
	scope := w.InProgram(u, c.A)
	admin := testenv.AsUser(g.Admin.ID)
	redisServer.Kill()

	start := time.Now()
	for time.Since(start) < 6*time.Second {
		_, err := g.Authz.Reach(context.Background(), u)
		require.NoError(t, err)
		_, err = g.Authz.SetScopeActive(admin, scope, false)
		require.NoError(t, err)
		_, err = g.Authz.SetScopeActive(admin, scope, true)
		require.NoError(t, err)
		time.Sleep(50 * time.Millisecond)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	perMessage := map[string]int{}
	for _, l := range lines {
		if _, rest, ok := strings.Cut(l, "msg="); ok {
			perMessage[rest[:min(len(rest), 60)]]++
		}
	}
	t.Logf("%d warning lines in 6 s: %v", len(lines), perMessage)
	for msg, n := range perMessage {
		assert.LessOrEqual(t, n, 1, "%q repeated", msg)
	}
	assert.LessOrEqual(t, len(lines), 12)
}
