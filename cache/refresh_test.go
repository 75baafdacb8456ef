package cache_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"authz-gateway/cache"
	"authz-gateway/internal/testenv"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hotReads reads k every 5 ms for d from a Redis-backed cache whose
// permissions live ttl, and returns the misses after the first fill.
func hotReads(t *testing.T, ttl, d time.Duration, noRefreshAhead bool) uint64 {
	client, prefix := testenv.Redis(t)
	c, _ := cache.New(cache.NewRedisStore(client, prefix, time.Hour), cache.Config{
		TTL: map[cache.Kind]time.Duration{cache.Permissions: ttl}, NoRefreshAhead: noRefreshAhead,
	})
	t.Cleanup(c.Close)
	src := newSource()
	k := key(cache.Permissions, 1)
	src.set(k, "v")
	get(t, c, src, k)
	before := c.Stats(context.Background()).Misses
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		assert.Equal(t, "v", get(t, c, src, k))
	}
	return c.Stats(context.Background()).Misses - before
}

// A key read often, with a short TTL, is refreshed before it expires:
// readers see no miss over several TTLs. Without refresh-ahead they see one
// per TTL.
func TestRefreshAhead_HotKeyNeverMisses(t *testing.T) {
	testenv.Slow(t, "a hot key across its TTL")
	// A TTL of 1 s: refreshes start ~100-200 ms before expiry, enough for a
	// loaded CI machine (race detector, parallel packages) to land them.
	const ttl, d = time.Second, 4 * time.Second
	with := hotReads(t, ttl, d, false)
	without := hotReads(t, ttl, d, true)
	perMinute := func(n uint64) float64 { return float64(n) / d.Minutes() }
	t.Logf("hot key, TTL %v, a read every 5 ms for %v: %d misses with refresh-ahead (%.0f/min), %d without (%.0f/min)",
		ttl, d, with, perMinute(with), without, perMinute(without))
	assert.Zero(t, with)
	assert.GreaterOrEqual(t, without, uint64(3), "one per TTL without it")
}

// A refresh that computed before a revoke committed is stored under the old
// generation: the next read sees the revoke.
func TestRefreshAhead_RacingARevokeNeverStoresAStaleValue(t *testing.T) {
	client, prefix := testenv.Redis(t)
	src := newSource()
	k := key(cache.Permissions, 1)
	var c *cache.Cache
	var armed, raced, wasRefresh atomic.Bool
	var missesAtArm uint64
	c, _ = cache.New(cache.NewRedisStore(client, prefix, time.Hour), cache.Config{
		// 1 s, as in the hot-key test: the refresh starts 100-200 ms before
		// the expiry, enough for a loaded machine (make test's parallel
		// packages, the race detector) to land it before a read misses.
		TTL: map[cache.Kind]time.Duration{cache.Permissions: time.Second},
		BeforeFill: func(ctx context.Context, keys []cache.Key) {
			if !armed.Load() || !raced.CompareAndSwap(false, true) {
				return
			}
			// No read missed since arming, so this fill is a refresh. It has
			// computed "granted"; now the revoke commits and invalidates.
			wasRefresh.Store(c.Stats(ctx).Misses == missesAtArm)
			src.set(k, "revoked")
			assert.NoError(t, c.Invalidate(ctx, cache.Invalidation{Users: []int{1}}))
		},
	})
	t.Cleanup(c.Close)
	src.set(k, "granted")
	require.Equal(t, "granted", get(t, c, src, k)) // the initial fill
	missesAtArm = c.Stats(context.Background()).Misses
	armed.Store(true)
	for deadline := time.Now().Add(5 * time.Second); !raced.Load() && time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if v := get(t, c, src, k); v != "granted" {
			assert.True(t, raced.Load(), "only the revoke changes the answer")
		}
	}
	require.True(t, raced.Load(), "a refresh ran")
	require.True(t, wasRefresh.Load(), "the fill that raced was a refresh, not a miss")
	for range 50 {
		assert.Equal(t, "revoked", get(t, c, src, k), "the refresh's old answer is never served")
		time.Sleep(2 * time.Millisecond)
	}
}
