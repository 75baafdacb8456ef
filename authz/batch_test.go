package authz_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"authz-gateway/access"
	"authz-gateway/answers"
	"authz-gateway/cache"
	"authz-gateway/internal/testenv"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// populate creates n users with a role and a PROGRAM scope each.
func populate(t *testing.T, g *testenv.Gateway, n int) []int {
	w := testenv.NewWorld(t, g.DB.Client)
	p := w.Program(fmt.Sprintf("prog-%d", n))
	w.Project(p, "proj")
	users := make([]int, n)
	for i := range users {
		users[i] = w.User(fmt.Sprintf("u%d-%d@test.example", n, i))
		w.Role(users[i], access.RoleViewer)
		w.InProgram(users[i], p)
	}
	return users
}

func allKeys(users []int) []cache.Key {
	var keys []cache.Key
	for _, u := range users {
		keys = append(keys, answers.ReachKeys(u)...)
	}
	return keys
}

// TestBatching_ConstantRoundTrips: the whole batch costs one Redis round trip
// to read, one query per kind for the misses and one round trip to fill,
// whatever the number of users; warm, none (the L1), or one read when only
// Redis holds the answers.
func TestBatching_ConstantRoundTrips(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	for _, n := range []int{5, 50} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			keys := allKeys(populate(t, g, n))
			ctx := context.Background()
			require.NoError(t, g.Cache.Invalidate(ctx, cache.Invalidation{Users: []int{cache.CatalogUser}}))

			g.SQL.Reset()
			g.Trips.Reset()
			_, err := g.Answers.Answers(ctx, keys)
			require.NoError(t, err)
			assert.Equal(t, 5, g.SQL.Count(), "cold: one statement per kind, the catalog's size included: %v", g.SQL.Statements())
			assert.Equal(t, 2, g.Trips.Trips(), "cold: one pipeline to read, one to fill")

			g.SQL.Reset()
			g.Trips.Reset()
			_, err = g.Answers.Answers(ctx, keys)
			require.NoError(t, err)
			assert.Equal(t, 0, g.SQL.Count(), "warm: no SQL")
			assert.Equal(t, 0, g.Trips.Trips(), "warm: all in the L1")

			g.L1.DropAll() // as if another instance had filled Redis
			g.SQL.Reset()
			g.Trips.Reset()
			_, err = g.Answers.Answers(ctx, keys)
			require.NoError(t, err)
			assert.Equal(t, 0, g.SQL.Count(), "warm in Redis: no SQL: %v", g.SQL.Statements())
			assert.Equal(t, 1, g.Trips.Trips(), "warm in Redis: one pipeline")
		})
	}
}

func TestKeys_NamesTTLsAndValues(t *testing.T) {
	ttl := map[cache.Kind]time.Duration{
		cache.Permissions: 20 * time.Minute, cache.AccessiblePrograms: 30 * time.Minute,
		cache.AccessibleProjects: 40 * time.Minute, cache.ScopeSummary: 50 * time.Minute,
	}
	g := testenv.NewGateway(t, testenv.Options{Cache: cache.Config{TTL: ttl}})
	users := populate(t, g, 3)
	ctx := context.Background()
	_, err := g.Answers.Answers(ctx, allKeys(users))
	require.NoError(t, err)

	for _, u := range users {
		for kind, want := range ttl {
			name := fmt.Sprintf("%s%s:{%d}", g.Prefix(), kind, u)
			got, err := g.Redis.TTL(ctx, name).Result()
			require.NoError(t, err, name)
			assert.Greater(t, got, want-want/10-time.Second, name)
			assert.LessOrEqual(t, got, want, name)
			raw, err := g.Redis.Get(ctx, name).Bytes()
			require.NoError(t, err, name)
			env, err := cache.DecodeEnvelope(raw)
			require.NoError(t, err, name)
			switch kind {
			case cache.Permissions:
				var perms []access.Permission
				require.NoError(t, json.Unmarshal(env.Data, &perms))
				assert.Equal(t, access.DefaultPermissions(access.RoleViewer), perms)
			case cache.AccessiblePrograms, cache.AccessibleProjects:
				var ids []int
				require.NoError(t, json.Unmarshal(env.Data, &ids))
				assert.Len(t, ids, 1)
			case cache.ScopeSummary:
				var sum answers.ScopeSummary
				require.NoError(t, json.Unmarshal(env.Data, &sum))
				assert.Equal(t, 1, sum.AccessibleProgramCount)
				assert.Len(t, sum.DirectScopes, 1)
			}
		}
	}
}

// TestSingleflight_ConcurrentMissesQueryOnce: 100 concurrent misses of one
// answer compute it once: the fill is held until every one of them has
// missed. That holds while the store answers and the scheduler lets every
// goroutine reach the flight before the leader ends: a store that
// times out (a loaded CI machine, REDIS_TIMEOUT 100 ms) sends requests to the
// database directly, each on its own (nothing can be shared without a
// generation stamp), so an attempt during which the store failed proves
// nothing and is run again with a fresh user, and so is one where a
// goroutine starved by a loaded machine (other packages, other processes)
// missed only after the leader had finished. Without the flight, every
// attempt would query 100 times.
func TestSingleflight_ConcurrentMissesQueryOnce(t *testing.T) {
	var gate atomic.Pointer[chan struct{}]
	g := testenv.NewGateway(t, testenv.Options{Cache: cache.Config{
		BeforeFill: func(context.Context, []cache.Key) {
			if ch := gate.Load(); ch != nil {
				<-*ch
			}
		},
	}})
	const attempts = 6 // CI failed 3 of 3 once, a compile running beside it
	users := populate(t, g, attempts)
	for attempt, user := range users {
		ch := make(chan struct{})
		gate.Store(&ch)
		before := g.Cache.Stats(context.Background())
		g.SQL.Reset()
		var wg sync.WaitGroup
		for range 100 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				perms, err := permissionsOf(g.Answers, user)
				assert.NoError(t, err)
				assert.Equal(t, access.DefaultPermissions(access.RoleViewer), perms)
			}()
		}
		// Release the fill once all 100 have missed in the store (each joins
		// the flight right after, with no I/O between) or gone around it: a
		// fixed sleep let a goroutine starved on a loaded machine miss after
		// the leader had finished, and lead a second computation.
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			now := g.Cache.Stats(context.Background())
			if (now.Misses-before.Misses)+(now.Bypassed-before.Bypassed) >= 100 {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		close(ch)
		wg.Wait()
		after := g.Cache.Stats(context.Background())
		if after.Errors > before.Errors || after.Bypassed > before.Bypassed {
			t.Logf("attempt %d: the store failed (%d errors, %d bypassed); again", attempt+1, after.Errors-before.Errors, after.Bypassed-before.Bypassed)
			continue
		}
		// One computation: the user's four answers (computed whole, in one
		// snapshot: permissions, programs, projects, direct scopes).
		if n := g.SQL.Count(); n != len(answers.ReachKeys(user)) {
			// Without the flight every one of the 100 would query; a second
			// computation means a goroutine was starved past the leader's end.
			t.Logf("attempt %d: %d queries: %v", attempt+1, n, g.SQL.Statements())
			continue
		}
		return
	}
	t.Fatalf("no attempt of %d computed the answer once (logged above)", attempts)
}
