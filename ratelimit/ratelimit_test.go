package ratelimit

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// Without Redis (or while it is down) each key has a token bucket in this
// process: the burst passes, the next is refused with a wait, other keys
// keep their own budget, and a zero limit refuses nothing.
func TestLimiter_LocalBuckets(t *testing.T) {
	ctx := context.Background()
	l := New(nil, "", Limit{PerSecond: 1, Burst: 3}, time.Second)
	for i := range 3 {
		assert.True(t, l.Allow(ctx, "user:1").Allowed, "request %d of the burst", i+1)
	}
	refused := l.Allow(ctx, "user:1")
	assert.False(t, refused.Allowed)
	assert.Greater(t, refused.RetryAfter, time.Duration(0))
	assert.LessOrEqual(t, refused.RetryAfter, time.Second)
	assert.True(t, l.Allow(ctx, "user:2").Allowed, "another key, another budget")

	off := New(nil, "", Limit{}, time.Second)
	assert.False(t, off.Enabled())
	for range 100 {
		assert.True(t, off.Allow(ctx, "user:1").Allowed)
	}
}
