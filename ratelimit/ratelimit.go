// Package ratelimit limits requests per viewer (per client IP before
// authentication) across all gateway instances, with a GCRA limiter in Redis
// (gcra.go). When Redis is unreachable it keeps limiting, per
// instance, with an in-process token bucket, and it never waits for a Redis
// that is known to be down (circuit breaker).
package ratelimit

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"
	"golang.org/x/time/rate"
)

// Limit is a rate with a burst.
type Limit struct {
	PerSecond int // 0 disables limiting
	Burst     int
}

// Decision is the outcome for one request.
type Decision struct {
	Allowed    bool
	RetryAfter time.Duration
}

// Limiter decides whether a key may make another request.
type Limiter struct {
	limit   Limit
	prefix  string
	remote  redis.Scripter // nil without Redis
	breaker *gobreaker.CircuitBreaker[Decision]
	timeout time.Duration
	local   *localBuckets
	warn    rate.Sometimes
}

// New returns a limiter. client may be nil (in-process only). Keys are stored
// under prefix.
func New(client redis.UniversalClient, prefix string, limit Limit, timeout time.Duration) *Limiter {
	if limit.Burst < limit.PerSecond {
		limit.Burst = limit.PerSecond
	}
	l := &Limiter{
		limit:   limit,
		prefix:  prefix,
		timeout: timeout,
		local:   newLocalBuckets(limit),
		warn:    rate.Sometimes{First: 1, Interval: 10 * time.Second},
		breaker: gobreaker.NewCircuitBreaker[Decision](gobreaker.Settings{
			Name:        "ratelimit",
			MaxRequests: 1,
			Timeout:     time.Second,
			ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= 3 },
			IsExcluded:  func(err error) bool { return errors.Is(err, context.Canceled) },
		}),
	}
	if client != nil {
		l.remote = client
	}
	return l
}

// Enabled reports whether any limit applies.
func (l *Limiter) Enabled() bool { return l.limit.PerSecond > 0 }

// Allow spends one request of key's budget.
func (l *Limiter) Allow(ctx context.Context, key string) Decision {
	if !l.Enabled() {
		return Decision{Allowed: true}
	}
	if l.remote != nil {
		d, err := l.breaker.Execute(func() (Decision, error) {
			ctx, cancel := context.WithTimeout(ctx, l.timeout)
			defer cancel()
			return allowRemote(ctx, l.remote, l.prefix+key, l.limit)
		})
		if err == nil {
			return d
		}
		l.warn.Do(func() {
			slog.WarnContext(ctx, "rate limiter: Redis unavailable, limiting per instance", "err", err)
		})
	}
	return l.local.allow(key)
}

// localBuckets are per-key token buckets in this process, bounded in number:
// the fallback while Redis is down, and the limiter without Redis.
type localBuckets struct {
	mu      sync.Mutex
	limit   Limit
	buckets map[string]*rate.Limiter
}

const maxLocalBuckets = 100_000

func newLocalBuckets(limit Limit) *localBuckets {
	return &localBuckets{limit: limit, buckets: map[string]*rate.Limiter{}}
}

func (b *localBuckets) allow(key string) Decision {
	b.mu.Lock()
	lim, ok := b.buckets[key]
	if !ok {
		if len(b.buckets) >= maxLocalBuckets {
			// Forgetting buckets only ever grants a fresh burst; it never
			// blocks anyone wrongly, and it bounds memory under key floods.
			b.buckets = map[string]*rate.Limiter{}
		}
		lim = rate.NewLimiter(rate.Limit(b.limit.PerSecond), b.limit.Burst)
		b.buckets[key] = lim
	}
	b.mu.Unlock()
	r := lim.Reserve()
	if delay := r.Delay(); delay > 0 {
		r.Cancel()
		return Decision{RetryAfter: delay}
	}
	return Decision{Allowed: true}
}
