// Package cache is the cache-or-compute service of the authorization answers:
// batched reads from a Store (Redis or in-process), generation tokens that make
// stale fills harmless, a batch singleflight, a circuit breaker and a fallback
// that computes from the source of truth whenever the store cannot be trusted.
//
// Freshness protocol. Every value is stored in an envelope stamped with the
// global and the user's generation tokens as they were read *before* the
// value was computed. A read accepts a value only if its stamp equals the
// current tokens. Invalidation (after the database commit) replaces tokens. So
// a reader that computed from the database before a commit can still write its
// old answer, but it is stamped with the old token and never read again. If an
// invalidation cannot be delivered, this process stops using the store until it
// has replaced the global token, which invalidates everything.
package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"
	"golang.org/x/time/rate"
)

// ComputeFunc computes the values of keys from the source of truth, as JSON,
// in as few queries as it can. It must return a value for every key.
type ComputeFunc func(ctx context.Context, keys []Key) (map[Key]Computed, error)

// Computed is one computed value: its JSON and, when it holds only until an
// instant (a time-bound grant it was built from ends then), that instant on
// the database's clock. Zero End: the value has no end of its own.
//
// No tier serves a value past its End: Redis keeps it no longer (its TTL is
// capped), a read rejects it once the database's clock (as far as this
// process can tell, ObserveDatabaseClock) reaches End, the L1 drops it,
// a caller waiting on another's computation of it computes again, and
// nothing a read does moves End.
type Computed struct {
	Data []byte
	End  time.Time
}

// Config tunes a Cache. Zero fields take the defaults.
type Config struct {
	// TTL is the lifetime of values per kind (default 1 h each).
	TTL map[Kind]time.Duration
	// Jitter shortens each TTL by a random fraction up to this (default 0.1,
	// never more): TTLs never exceed the configured value.
	Jitter float64
	// OpTimeout bounds every store operation (default 100 ms).
	OpTimeout time.Duration
	// BreakerOpen is how long the store is skipped after it failed
	// BreakerFailures times in a row (defaults 1 s and 3).
	BreakerOpen     time.Duration
	BreakerFailures uint32
	// RecoveryInterval is how often an untrusted cache retries the global
	// invalidation (default 20 ms). It bounds how long, after Redis comes
	// back, another instance may still serve an invalidation lost in the
	// outage.
	RecoveryInterval time.Duration
	// Logger receives rate-limited warnings (default slog.Default()).
	Logger *slog.Logger
	// BeforeFill, if set, runs after a computation and before its values are
	// stored. Tests use it to pause a reader inside the stale-fill window.
	BeforeFill func(ctx context.Context, keys []Key)
	// Accept, if set, decides whether a store that has applied the
	// access-change log up to the given position may be trusted for this
	// read; when it says no, the read bypasses the store
	// (freshness.Positions.Accept).
	Accept func(applied int64) bool
	// LocalBytes, if positive, keeps an in-process tier (L1) of at most this
	// many bytes in front of the store. It answers only under a lease
	// (LocalTier.ExtendLease), which the fleet membership renews
	// (freshness.Log.JoinFleet); 0 (the default here) has no L1.
	LocalBytes int64
	// NoRefreshAhead turns refresh-ahead off (refresh.go).
	NoRefreshAhead bool
	// LocalCurrent, if set, must say yes for the L1 to answer (the log's
	// watcher says no while a change is overdue, as it does for the store).
	LocalCurrent func() bool
}

// DefaultTTL is the value lifetime of docs/design.md, section 4.
const DefaultTTL = time.Hour

func (c Config) withDefaults() Config {
	ttl := make(map[Kind]time.Duration, len(Kinds))
	for _, k := range Kinds {
		ttl[k] = DefaultTTL
		if d := c.TTL[k]; d > 0 {
			ttl[k] = d
		}
	}
	c.TTL = ttl
	if c.Jitter <= 0 || c.Jitter > 0.1 {
		c.Jitter = 0.1
	}
	if c.OpTimeout <= 0 {
		c.OpTimeout = 100 * time.Millisecond
	}
	if c.BreakerOpen <= 0 {
		c.BreakerOpen = time.Second
	}
	if c.BreakerFailures == 0 {
		c.BreakerFailures = 3
	}
	if c.RecoveryInterval <= 0 {
		c.RecoveryInterval = 20 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// ended reports whether a value ending at end (Unix ms on the database's
// clock, 0: no end) has ended.
func (c *Cache) ended(end int64) bool {
	return end != 0 && c.databaseNow().UnixMilli() >= end
}

// databaseNow is the database's clock as this process can tell it, never
// behind it: values' ends (Computed.End) are measured on it.
func (c *Cache) databaseNow() time.Time {
	return time.Now().Add(time.Duration(c.dbAhead.Load()))
}

// ObserveDatabaseClock tells the cache that the database's clock read dbNow
// (rounded down to the millisecond) in a statement sent at sent on this
// process's clock. The difference bounds how far the database's clock is
// ahead of ours from above (it includes the trip there), so an end is never
// judged later than the database would. Until told, the clocks are taken to
// agree (they do for the embedded database, which is this process).
func (c *Cache) ObserveDatabaseClock(sent, dbNow time.Time) {
	c.dbAhead.Store(int64(dbNow.Add(time.Millisecond).Sub(sent)))
}

// MaxTTL returns the longest configured TTL.
func (c Config) MaxTTL() time.Duration {
	c = c.withDefaults()
	var longest time.Duration
	for _, d := range c.TTL {
		longest = max(longest, d)
	}
	return longest
}

// Cache serves the authorization answers. It is safe for concurrent use.
type Cache struct {
	store   Store
	local   *local // nil without an L1
	cfg     Config
	breaker *gobreaker.CircuitBreaker[struct{}]
	flights flights
	metrics *metrics
	warn    rate.Sometimes // store failures
	// refreshWarn: refresh-ahead failures (a warning at most every 10 s each)
	refreshWarn rate.Sometimes

	// dbAhead is how far the database's clock runs ahead of this
	// process's (ns, an upper bound; ObserveDatabaseClock).
	dbAhead atomic.Int64
	// distrust is set while an invalidation is undelivered; reads and writes
	// then skip the store until the global token has been replaced.
	distrust    atomic.Bool
	mu          sync.Mutex
	undelivered uint64
	recovering  bool
	closed      chan struct{}
	closeOnce   sync.Once
	recoveryWG  sync.WaitGroup
}

// New returns a Cache over store, and the controls of its L1 when
// cfg.LocalBytes asks for one (nil otherwise): hand them to the fleet
// membership, which alone may lease the tier.
func New(store Store, cfg Config) (*Cache, *LocalTier) {
	cfg = cfg.withDefaults()
	c := &Cache{
		store:       store,
		cfg:         cfg,
		metrics:     newMetrics(),
		warn:        rate.Sometimes{First: 1, Interval: 10 * time.Second},
		refreshWarn: rate.Sometimes{First: 1, Interval: 10 * time.Second},
		closed:      make(chan struct{}),
	}
	var tier *LocalTier
	if cfg.LocalBytes > 0 {
		c.local = newLocal(cfg.LocalBytes)
		tier = &LocalTier{l: c.local}
	}
	c.breaker = gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        "cache-store",
		MaxRequests: 1,
		Timeout:     cfg.BreakerOpen,
		ReadyToTrip: func(counts gobreaker.Counts) bool {
			return counts.ConsecutiveFailures >= cfg.BreakerFailures
		},
		// A request that was cancelled says nothing about the store's health.
		IsExcluded: func(err error) bool { return errors.Is(err, context.Canceled) },
		// A store that stays down takes the breaker open -> half-open ->
		// open once per BreakerOpen: say so when it opens after working and
		// when it closes again, not at every probe.
		OnStateChange: func(_ string, from, to gobreaker.State) {
			switch {
			case from == gobreaker.StateClosed && to == gobreaker.StateOpen:
				cfg.Logger.Warn("cache store unreachable: circuit open, answering from the database")
			case to == gobreaker.StateClosed:
				cfg.Logger.Info("cache store reachable again: circuit closed")
			}
		},
	})
	return c, tier
}

// Close stops background recovery. It does not close the store.
func (c *Cache) Close() {
	c.closeOnce.Do(func() { close(c.closed) })
	c.recoveryWG.Wait()
}

// Collector exports the cache's metrics to Prometheus.
func (c *Cache) Collector() prometheus.Collector { return collector{c: c} }

// KeyPrefix returns the store's key prefix ("" for the in-process store).
func (c *Cache) KeyPrefix() string {
	if p, ok := c.store.(interface{ KeyPrefix() string }); ok {
		return p.KeyPrefix()
	}
	return ""
}

// ping checks the store, bypassing the circuit breaker.
func (c *Cache) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.OpTimeout)
	defer cancel()
	return c.store.Ping(ctx)
}

// Stats returns a snapshot of the counters and whether the store answers now.
func (c *Cache) Stats(ctx context.Context) Stats {
	s := c.metrics.snapshot()
	s.Backend = c.store.Backend()
	s.Reachable = c.breaker.State() != gobreaker.StateOpen && c.ping(ctx) == nil
	s.Trusted = !c.distrust.Load()
	return s
}

// storeOp runs op with the store timeout, through the circuit breaker.
func (c *Cache) storeOp(ctx context.Context, op func(ctx context.Context) error) error {
	_, err := c.breaker.Execute(func() (struct{}, error) {
		ctx, cancel := context.WithTimeout(ctx, c.cfg.OpTimeout)
		defer cancel()
		return struct{}{}, op(ctx)
	})
	return err
}

func (c *Cache) storeFailed(ctx context.Context, op string, err error) {
	if errors.Is(err, context.Canceled) || ctx.Err() != nil {
		// An abandoned request says nothing about the store's health.
		return
	}
	c.metrics.storeErrors.Add(1)
	c.warn.Do(func() {
		c.cfg.Logger.WarnContext(ctx, "cache store failed; answering from the database",
			"op", op, "backend", c.store.Backend(), "err", err)
	})
}

// computeAll calls compute and checks that it answered every key.
func computeAll(ctx context.Context, keys []Key, compute ComputeFunc) (map[Key]Computed, error) {
	values, err := compute(ctx, keys)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if _, ok := values[k]; !ok {
			return nil, fmt.Errorf("cache: compute returned no value for %s", k)
		}
	}
	return values, nil
}

func uniqueKeys(keys []Key) []Key {
	if len(keys) <= 16 {
		// A request's own answers (five keys): no map, and no copy when
		// there is nothing to drop.
		for i, k := range keys {
			if slices.Contains(keys[:i], k) {
				return uniqueSmall(keys)
			}
		}
		return keys
	}
	seen := make(map[Key]bool, len(keys))
	out := keys[:0:0]
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// uniqueSmall is uniqueKeys for a few keys with duplicates, order kept.
func uniqueSmall(keys []Key) []Key {
	out := make([]Key, 0, len(keys))
	for _, k := range keys {
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

func usersOf(keys []Key) []int {
	ids := make([]int, 0, len(keys))
	for _, k := range keys {
		ids = append(ids, k.UserID)
	}
	return uniqueInts(ids)
}

func uniqueInts(ids []int) []int {
	seen := make(map[int]bool, len(ids))
	out := make([]int, 0, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
