package warm_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"authz-gateway/access"
	"authz-gateway/answers"
	"authz-gateway/cache"
	"authz-gateway/internal/testenv"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// warmScenario: 30 users are active on one instance (in order, so the last
// ten are the most recent), every cached answer goes stale, and the
// instance restarts. It returns, for the restarted instance, how many of
// each user's first reads missed the store.
func warmScenario(t *testing.T, warmUsers int) (missesOfRecent, missesOfOthers uint64, restarted *testenv.Gateway) {
	one := testenv.NewGateway(t, testenv.Options{})
	w := testenv.NewWorld(t, one.DB.Client)
	program := w.Program("A")
	users := make([]int, 30)
	for i := range users {
		users[i] = w.User(fmt.Sprintf("active%02d@test.example", i))
		w.Role(users[i], access.RoleViewer)
		w.InProgram(users[i], program)
		testenv.MustOK(t, one.Do(t, one.Token(t, users[i]), `{ me { permissions } }`, nil))
		time.Sleep(2 * time.Millisecond) // distinct last-seen times
	}
	ctx := context.Background()
	require.NoError(t, one.Cache.Invalidate(ctx, cache.Invalidation{All: true})) // every answer stale (no log entry: nobody warms now)
	one.App.Close()                                                              // the restart; what it saw is recorded on the way out

	restarted = testenv.NewGateway(t, testenv.Options{DatabaseURL: one.DatabaseURL, Prefix: one.Prefix(), WarmUsers: warmUsers})
	require.Eventually(t, restarted.App.Warmed, 10*time.Second, 10*time.Millisecond)
	read := func(u int) uint64 {
		before := restarted.Cache.Stats(ctx).Misses
		_, err := restarted.Answers.Answers(ctx, answers.ReachKeys(u))
		require.NoError(t, err)
		return restarted.Cache.Stats(ctx).Misses - before
	}
	for _, u := range users[20:] {
		missesOfRecent += read(u)
	}
	for _, u := range users[:20] {
		missesOfOthers += read(u)
	}
	return missesOfRecent, missesOfOthers, restarted
}

// After a restart with warming on, the first reads of the recently active
// users are hits; warming stops at its bound (WARM_USERS, here 10 of 30).
func TestWarming_RestartWarmsTheMostRecentlyActive(t *testing.T) {
	recent, others, g := warmScenario(t, 10)
	t.Logf("with warming (10 users): first reads missed %d times for the 10 most recent users, %d for the 20 others", recent, others)
	assert.Zero(t, recent, "the warmed users' first reads all hit")
	assert.Positive(t, others, "beyond the bound, nothing was warmed")
	assert.Equal(t, 10.0, g.MustMetric(t, "authz_cache_warm_users_total"))

	// invalidateAllCaches makes everyone cold: the instance that delivered
	// it warms again.
	require.NoError(t, g.Authz.InvalidateAllCaches(testenv.AsUser(g.Admin.ID)))
	require.Eventually(t, func() bool {
		runs, ok := g.Metric(`authz_cache_warm_runs_total{reason="invalidate_all"}`)
		return ok && runs == 1
	}, 10*time.Second, 20*time.Millisecond)
	assert.Equal(t, 20.0, g.MustMetric(t, "authz_cache_warm_users_total"))

	recent, others, _ = warmScenario(t, -1)
	t.Logf("without warming: first reads missed %d times for the 10 most recent users, %d for the 20 others", recent, others)
	assert.Positive(t, recent, "without warming the same reads miss")
}
