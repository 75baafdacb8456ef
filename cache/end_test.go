package cache_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"authz-gateway/cache"
	"authz-gateway/internal/testenv"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A value computed with an end is served until then, and from then on by
// no tier: the source's answer changes at the end on its own (no
// invalidation, as when a time-bound grant ends), and the first read after
// it sees the new answer, from the L1, the store or both, read often or not.
func TestEnd_NoTierServesAValuePastItsEnd(t *testing.T) {
	for _, l1 := range []bool{false, true} {
		t.Run(fmt.Sprintf("l1=%v", l1), func(t *testing.T) {
			tiers(t, func(t *testing.T, store cache.Store) {
				cfg := cache.Config{}
				if l1 {
					cfg.LocalBytes = 1 << 20
				}
				c, tier := cache.New(store, cfg)
				defer c.Close()
				if tier != nil {
					tier.ExtendLease(time.Now().Add(time.Hour))
				}
				src := newSource()
				k := key(cache.Permissions, 41)
				end := time.Now().Add(300 * time.Millisecond)
				src.set(k, "granted")
				src.endAt(k, end)

				assert.Equal(t, "granted", get(t, c, src, k))
				assert.Equal(t, "granted", get(t, c, src, k))
				assert.EqualValues(t, 1, src.calls.Load(), "held until its end")

				// The database's answer changes at the end by itself.
				src.set(k, "ended")
				src.endAt(k, time.Time{})
				for time.Now().Before(end) {
					start := time.Now()
					got := get(t, c, src, k)
					if start.After(end) {
						assert.Equal(t, "ended", got)
					}
					time.Sleep(5 * time.Millisecond)
				}
				for range 20 {
					assert.Equal(t, "ended", get(t, c, src, k), "a read after the end")
				}
				assert.EqualValues(t, 2, src.calls.Load(), "recomputed once, then held (no end any more)")
			})
		})
	}
}

// Redis keeps a value with an end no longer than until its end, and a read
// never lengthens that (the bug SpiceDB fixed in #3431: cache reads extended
// entries' lifetime).
func TestEnd_RedisTTLIsCappedAndReadsNeverExtendIt(t *testing.T) {
	client, prefix := testenv.Redis(t)
	c, _ := cache.New(cache.NewRedisStore(client, prefix, 2*time.Hour), cache.Config{})
	defer c.Close()
	src := newSource()
	k := key(cache.AccessibleProjects, 9)
	src.set(k, "x")
	src.endAt(k, time.Now().Add(2*time.Second))
	get(t, c, src, k)
	ctx := context.Background()
	redisKey := fmt.Sprintf("%s%s:{%d}", prefix, k.Kind, k.UserID)
	first, err := client.PTTL(ctx, redisKey).Result()
	require.NoError(t, err)
	assert.LessOrEqual(t, first, 2*time.Second)
	assert.Positive(t, first)
	for range 50 {
		get(t, c, src, k)
	}
	time.Sleep(50 * time.Millisecond)
	later, err := client.PTTL(ctx, redisKey).Result()
	require.NoError(t, err)
	assert.Less(t, later, first, "reads did not extend it")
	assert.EqualValues(t, 1, src.calls.Load())
}

// A reader that joins another's computation, started before the end, but
// itself asks after the end, does not take the ended value: it computes.
func TestEnd_AFollowerAfterTheEndComputesItself(t *testing.T) {
	tiers(t, func(t *testing.T, store cache.Store) {
		k := key(cache.ScopeSummary, 5)
		src := newSource()
		end := time.Now().Add(200 * time.Millisecond)
		src.set(k, "granted")
		src.endAt(k, end)
		paused, resume := make(chan struct{}), make(chan struct{})
		first := true
		c, _ := cache.New(store, cache.Config{BeforeFill: func(context.Context, []cache.Key) {
			if first {
				first = false
				close(paused)
				<-resume
			}
		}})
		defer c.Close()

		leader := make(chan string)
		go func() {
			s, _ := tryGet(c, src, k)
			leader <- s
		}()
		<-paused // the leader has computed "granted" and holds it
		time.Sleep(time.Until(end) + 10*time.Millisecond)
		src.set(k, "ended")
		src.endAt(k, time.Time{})
		follower := make(chan string)
		go func() {
			s, _ := tryGet(c, src, k)
			follower <- s
		}()
		time.Sleep(50 * time.Millisecond) // the follower joins the leader's flight
		close(resume)
		assert.Equal(t, "granted", <-leader, "the leader asked before the end")
		assert.Equal(t, "ended", <-follower, "the follower asked after it")
	})
}

// Ends are judged on the database's clock: a database whose clock runs an
// hour ahead of ours ends a value due in half an hour at once.
func TestEnd_JudgedOnTheDatabasesClock(t *testing.T) {
	c, tier := cache.New(cache.NewMemoryStore(), cache.Config{LocalBytes: 1 << 20})
	defer c.Close()
	tier.ExtendLease(time.Now().Add(time.Hour))
	src := newSource()
	k := key(cache.Permissions, 3)
	src.set(k, "granted")
	src.endAt(k, time.Now().Add(30*time.Minute))
	assert.Equal(t, "granted", get(t, c, src, k))
	assert.Equal(t, "granted", get(t, c, src, k))
	assert.EqualValues(t, 1, src.calls.Load())

	sent := time.Now()
	c.ObserveDatabaseClock(sent, sent.Add(time.Hour))
	src.set(k, "ended")
	src.endAt(k, time.Time{})
	assert.Equal(t, "ended", get(t, c, src, k))
}
