package cache_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"authz-gateway/cache"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// withL1 returns a cache over the in-process store with an L1 of maxBytes
// whose lease holds for an hour.
func withL1(t *testing.T, maxBytes int64, tune ...func(*cache.Config)) (*cache.Cache, *cache.LocalTier) {
	cfg := cache.Config{LocalBytes: maxBytes}
	for _, f := range tune {
		f(&cfg)
	}
	c, l1 := cache.New(cache.NewMemoryStore(), cfg)
	t.Cleanup(c.Close)
	l1.ExtendLease(time.Now().Add(time.Hour))
	return c, l1
}

func TestL1_AnswersOnlyUnderItsLease(t *testing.T) {
	c, l1 := cache.New(cache.NewMemoryStore(), cache.Config{LocalBytes: 1 << 20})
	t.Cleanup(c.Close)
	src := newSource()
	k := key(cache.Permissions, 1)
	src.set(k, "v1")

	get(t, c, src, k)
	get(t, c, src, k)
	assert.Zero(t, c.LocalStats().Hits+c.LocalStats().Misses, "no lease yet: the L1 is not even looked at")

	l1.ExtendLease(time.Now().Add(50 * time.Millisecond))
	get(t, c, src, k) // fills the L1
	get(t, c, src, k)
	assert.EqualValues(t, 1, c.LocalStats().Hits)

	time.Sleep(60 * time.Millisecond)
	assert.False(t, c.LocalStats().Leased)
	get(t, c, src, k)
	assert.EqualValues(t, 1, c.LocalStats().Hits, "the lease ran out: the store answers")

	l1.ExtendLease(time.Now().Add(time.Hour))
	l1.ExtendLease(time.Now().Add(time.Millisecond)) // a late renewal never shortens the lease
	assert.True(t, c.LocalStats().Leased)
	l1.RevokeLease()
	assert.False(t, c.LocalStats().Leased)
	assert.Zero(t, c.LocalStats().Entries, "revoking empties it")
}

func TestL1_DropsAndSuspension(t *testing.T) {
	c, l1 := withL1(t, 1<<20)
	src := newSource()
	a, b := key(cache.Permissions, 1), key(cache.Permissions, 2)
	src.set(a, "a1")
	src.set(b, "b1")
	get(t, c, src, a)
	get(t, c, src, b)
	calls := src.calls.Load()

	// Behind the cache's back, then dropped from the L1 only: the store still
	// has the old value (the fleet drops only after the store was invalidated).
	src.set(a, "a2")
	require.NoError(t, c.Invalidate(context.Background(), cache.Invalidation{Users: []int{1}}))
	assert.Equal(t, "a2", get(t, c, src, a), "invalidation drops the L1 after the store")
	assert.Equal(t, "b1", get(t, c, src, b), "other users stay")
	assert.Equal(t, calls+1, src.calls.Load())

	hits := c.LocalStats().Hits
	l1.Suspend()
	get(t, c, src, b)
	assert.Equal(t, hits, c.LocalStats().Hits, "suspended: not answered from memory")
	l1.Resume()
	get(t, c, src, b)
	assert.Equal(t, hits+1, c.LocalStats().Hits, "resumed: the value was kept")
}

// A read that began before a drop must not put its value into the L1 after
// the drop: it may have read the store before the invalidation reached it.
func TestL1_ReadBeforeADropIsNotKept(t *testing.T) {
	var (
		c  *cache.Cache
		l1 *cache.LocalTier
	)
	k := key(cache.Permissions, 1)
	c, l1 = withL1(t, 1<<20, func(cfg *cache.Config) {
		cfg.BeforeFill = func(context.Context, []cache.Key) { l1.Drop([]int{1}) }
	})
	src := newSource()
	src.set(k, "v1")
	get(t, c, src, k)
	assert.Zero(t, c.LocalStats().Entries, "the fill raced a drop: not kept")
}

func TestL1_BoundedByBytesLeastRecentlyUsedFirst(t *testing.T) {
	const maxBytes = 4 << 10
	c, _ := withL1(t, maxBytes)
	src := newSource()
	value := fmt.Sprintf("%0200d", 0) // ~200 bytes, ~330 with the entry's overhead
	first := key(cache.Permissions, 0)
	for u := range 100 {
		k := key(cache.Permissions, u)
		src.set(k, value)
		get(t, c, src, k)
		get(t, c, src, first) // keep the first one recently used
	}
	s := c.LocalStats()
	assert.LessOrEqual(t, s.Bytes, int64(maxBytes))
	assert.Positive(t, s.Evictions)
	assert.Less(t, s.Entries, 100)

	hits := s.Hits
	get(t, c, src, first)
	assert.Equal(t, hits+1, c.LocalStats().Hits, "the most recently used entry stayed")
	misses := c.LocalStats().Misses
	assert.Equal(t, value, get(t, c, src, key(cache.Permissions, 1)))
	assert.Equal(t, misses+1, c.LocalStats().Misses, "an old one was evicted: the store answers")
}

// The L1 keeps values decoded: a value held in memory is decoded once.
func TestL1_DecodesOnce(t *testing.T) {
	c, l1 := withL1(t, 1<<20)
	src := newSource()
	k := key(cache.Permissions, 1)
	src.set(k, "v1")
	decodes := 0
	decode := func(_ cache.Key, raw []byte) (any, error) {
		decodes++
		return string(raw), nil
	}
	for range 3 {
		got, err := decodedGet(c, context.Background(), []cache.Key{k}, src.compute, decode)
		require.NoError(t, err)
		assert.Equal(t, `"v1"`, got[k])
	}
	assert.Equal(t, 1, decodes)

	l1.RevokeLease() // without the L1, every read decodes
	for range 2 {
		_, err := decodedGet(c, context.Background(), []cache.Key{k}, src.compute, decode)
		require.NoError(t, err)
	}
	assert.Equal(t, 3, decodes)
}

// Catalog facts: a yes is kept until the catalog changes; a yes read
// before a catalog change is not kept after it.
func TestL1_ObjectFacts(t *testing.T) {
	c, l1 := withL1(t, 1<<20)
	lookups := 0
	exists := func(context.Context) (bool, error) { lookups++; return true, nil }
	ctx := context.Background()
	for range 3 {
		ok, err := c.ObjectExists(ctx, 42, exists)
		require.NoError(t, err)
		assert.True(t, ok)
	}
	assert.Equal(t, 1, lookups)

	l1.Drop([]int{cache.CatalogUser})
	_, _ = c.ObjectExists(ctx, 42, exists)
	assert.Equal(t, 2, lookups, "forgotten when the catalog changes")

	l1.DropAll()
	racing := func(context.Context) (bool, error) {
		lookups++
		l1.Drop([]int{cache.CatalogUser}) // deleted while we looked
		return true, nil
	}
	_, _ = c.ObjectExists(ctx, 42, racing)
	_, _ = c.ObjectExists(ctx, 42, exists)
	assert.Equal(t, 4, lookups, "a yes read before the change is not kept")
}

// decodedGet reads keys through c, decoded.
func decodedGet(c *cache.Cache, ctx context.Context, keys []cache.Key, compute cache.ComputeFunc, decode cache.DecodeFunc) (map[cache.Key]any, error) {
	out := make(map[cache.Key]any, len(keys))
	err := c.EachDecoded(ctx, keys, compute, decode, func(k cache.Key, v any) { out[k] = v })
	return out, err
}
