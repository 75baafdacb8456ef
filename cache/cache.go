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
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"
	"golang.org/x/time/rate"
)

// ComputeFunc computes the values of keys from the source of truth, as JSON,
// in as few queries as it can. It must return a value for every key.
type ComputeFunc func(ctx context.Context, keys []Key) (map[Key][]byte, error)

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
}

// DefaultTTL is the value lifetime of DESIGN section 4.
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
	cfg     Config
	breaker *gobreaker.CircuitBreaker[struct{}]
	flights flights
	metrics *metrics
	warn    rate.Sometimes

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

// New returns a Cache over store.
func New(store Store, cfg Config) *Cache {
	cfg = cfg.withDefaults()
	c := &Cache{
		store:   store,
		cfg:     cfg,
		metrics: newMetrics(),
		warn:    rate.Sometimes{First: 1, Interval: 10 * time.Second},
		closed:  make(chan struct{}),
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
		OnStateChange: func(_ string, from, to gobreaker.State) {
			cfg.Logger.Warn("cache store circuit changed state", "from", from.String(), "to", to.String())
		},
	})
	return c
}

// Close stops background recovery. It does not close the store.
func (c *Cache) Close() {
	c.closeOnce.Do(func() { close(c.closed) })
	c.recoveryWG.Wait()
}

// Collector exports the cache's metrics to Prometheus.
func (c *Cache) Collector() prometheus.Collector { return collector{c: c} }

// Backend names the store tier.
func (c *Cache) Backend() string { return c.store.Backend() }

// KeyPrefix returns the store's key prefix ("" for the in-process store).
func (c *Cache) KeyPrefix() string {
	if p, ok := c.store.(interface{ KeyPrefix() string }); ok {
		return p.KeyPrefix()
	}
	return ""
}

// Trusted reports whether reads currently use the store.
func (c *Cache) Trusted() bool { return !c.distrust.Load() }

// Ping checks the store, bypassing the circuit breaker.
func (c *Cache) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.OpTimeout)
	defer cancel()
	return c.store.Ping(ctx)
}

// Stats returns a snapshot of the counters and whether the store answers now.
func (c *Cache) Stats(ctx context.Context) Stats {
	s := c.metrics.snapshot()
	s.Backend = c.store.Backend()
	s.Reachable = c.breaker.State() != gobreaker.StateOpen && c.Ping(ctx) == nil
	return s
}

// Get returns the value of every key: from the store when it holds a value of
// the current generation, otherwise from compute (one call for all misses),
// which it then stores. Store failures never fail Get; compute errors do, and
// are never stored.
func (c *Cache) Get(ctx context.Context, keys []Key, compute ComputeFunc) (map[Key][]byte, error) {
	keys = uniqueKeys(keys)
	if len(keys) == 0 {
		return map[Key][]byte{}, nil
	}
	if c.distrust.Load() {
		return c.bypass(ctx, keys, compute)
	}
	var snap Snapshot
	err := c.storeOp(ctx, func(ctx context.Context) (err error) {
		snap, err = c.store.Load(ctx, usersOf(keys), keys)
		return err
	})
	if err != nil {
		c.storeFailed(ctx, "load", err)
		for _, k := range keys {
			c.metrics.kinds[k.Kind].errors.Add(1)
		}
		return c.bypass(ctx, keys, compute)
	}
	out := make(map[Key][]byte, len(keys))
	stamps := make(map[Key]string)
	var misses []Key
	for _, k := range keys {
		stamp := snap.Global + "." + snap.Users[k.UserID]
		data, ok := c.check(k, snap.Values[k], stamp)
		if ok {
			out[k] = data
			continue
		}
		misses = append(misses, k)
		stamps[k] = stamp
	}
	if len(misses) == 0 {
		return out, nil
	}
	filled, err := c.fill(ctx, misses, stamps, compute)
	if err != nil {
		return nil, err
	}
	for k, v := range filled {
		out[k] = v
	}
	return out, nil
}

// check opens a stored envelope and counts the lookup.
func (c *Cache) check(k Key, raw []byte, stamp string) ([]byte, bool) {
	counters := c.metrics.kinds[k.Kind]
	if raw == nil {
		counters.misses.Add(1)
		return nil, false
	}
	env, err := DecodeEnvelope(raw)
	if err != nil || env.Gen != stamp {
		// A foreign, corrupt or older-generation value: treat as absent.
		counters.stale.Add(1)
		counters.misses.Add(1)
		return nil, false
	}
	counters.hits.Add(1)
	return env.Data, true
}

// fill computes the misses this process is not already computing, stores them,
// and waits for the ones it is.
func (c *Cache) fill(ctx context.Context, misses []Key, stamps map[Key]string, compute ComputeFunc) (map[Key][]byte, error) {
	lead, follow := c.flights.join(misses, stamps)
	out := make(map[Key][]byte, len(misses))
	if len(lead) > 0 {
		values, err := c.computeAndSave(ctx, lead, stamps, compute)
		if err != nil {
			return nil, err
		}
		for k, v := range values {
			out[k] = v
		}
	}
	var retry []Key
	for k, f := range follow {
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if f.err != nil {
			// The leader failed, perhaps only because its own request was
			// cancelled: compute this key ourselves rather than share the error.
			retry = append(retry, k)
			continue
		}
		out[k] = f.value
	}
	if len(retry) > 0 {
		values, err := computeAll(ctx, retry, compute)
		if err != nil {
			return nil, err
		}
		for k, v := range values {
			out[k] = v
		}
	}
	return out, nil
}

// computeAndSave runs compute for the keys this call leads, stores the result
// stamped with the generation read before computing, and releases followers.
func (c *Cache) computeAndSave(ctx context.Context, lead []Key, stamps map[Key]string, compute ComputeFunc) (values map[Key][]byte, err error) {
	start := time.Now()
	defer func() {
		if values == nil && err == nil {
			// compute panicked: followers must not take "nothing" for an answer.
			err = errors.New("cache: computation did not complete")
		}
		c.flights.finish(lead, stamps, values, err)
	}()
	values, err = computeAll(ctx, lead, compute)
	if err != nil {
		return nil, err
	}
	if c.cfg.BeforeFill != nil {
		c.cfg.BeforeFill(ctx, lead)
	}
	c.save(ctx, lead, values, stamps)
	c.metrics.fillSeconds.Observe(time.Since(start).Seconds())
	return values, nil
}

func (c *Cache) save(ctx context.Context, keys []Key, values map[Key][]byte, stamps map[Key]string) {
	if c.distrust.Load() {
		return
	}
	entries := make([]Entry, 0, len(keys))
	for _, k := range keys {
		raw, err := json.Marshal(Envelope{Gen: stamps[k], Data: values[k]})
		if err != nil {
			c.cfg.Logger.Error("cache: encode value", "key", k.String(), "err", err)
			continue
		}
		entries = append(entries, Entry{Key: k, Value: raw, TTL: c.ttl(k.Kind)})
	}
	err := c.storeOp(ctx, func(ctx context.Context) error { return c.store.Save(ctx, entries) })
	if err != nil {
		c.storeFailed(ctx, "save", err)
	}
}

// ttl is the configured TTL shortened by up to Jitter, so expiries of values
// filled together spread out and no TTL exceeds the configured one.
func (c *Cache) ttl(kind Kind) time.Duration {
	base := c.cfg.TTL[kind]
	return base - time.Duration(rand.Float64()*c.cfg.Jitter*float64(base))
}

// bypass computes without the store: used while the store is down or not
// trusted. No singleflight here: without a generation stamp there is no way
// to tell a computation that started before a commit from one after it.
func (c *Cache) bypass(ctx context.Context, keys []Key, compute ComputeFunc) (map[Key][]byte, error) {
	for _, k := range keys {
		c.metrics.kinds[k.Kind].bypassed.Add(1)
	}
	return computeAll(ctx, keys, compute)
}

// InvalidateUsers makes every cached value of users invalid, on every instance.
// Call it after the change has committed. If the store cannot be reached, the
// error is returned for logging only: freshness still holds, because this
// process bypasses the store until a global invalidation succeeds.
func (c *Cache) InvalidateUsers(ctx context.Context, users []int) error {
	if len(users) == 0 {
		return nil
	}
	c.metrics.invalidations.Add(uint64(len(users)))
	err := c.storeOp(ctx, func(ctx context.Context) error { return c.store.BumpUsers(ctx, uniqueInts(users)) })
	if err != nil {
		c.undeliverable(ctx, err)
		return fmt.Errorf("invalidate %d users: %w", len(users), err)
	}
	return nil
}

// InvalidateAll makes every cached value invalid with one store command.
func (c *Cache) InvalidateAll(ctx context.Context) error {
	c.metrics.invalidateAll.Add(1)
	err := c.storeOp(ctx, c.store.BumpAll)
	if err != nil {
		c.undeliverable(ctx, err)
		return fmt.Errorf("invalidate all: %w", err)
	}
	return nil
}

// undeliverable stops trusting the store and starts the recovery loop.
func (c *Cache) undeliverable(ctx context.Context, err error) {
	c.storeFailed(ctx, "invalidate", err)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.undelivered++
	c.distrust.Store(true)
	if c.recovering {
		return
	}
	c.recovering = true
	c.recoveryWG.Add(1)
	go c.recover()
}

// recover retries the global invalidation until one succeeds after the last
// undelivered invalidation, then trusts the store again. It talks to the
// store directly, not through the circuit breaker, so trust returns within one
// interval of the store coming back.
func (c *Cache) recover() {
	defer c.recoveryWG.Done()
	ticker := time.NewTicker(c.cfg.RecoveryInterval)
	defer ticker.Stop()
	for {
		select {
		case <-c.closed:
			return
		case <-ticker.C:
		}
		c.mu.Lock()
		seen := c.undelivered
		c.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.OpTimeout)
		err := c.store.BumpAll(ctx)
		cancel()
		if err != nil {
			continue
		}
		c.mu.Lock()
		if c.undelivered == seen {
			c.distrust.Store(false)
			c.recovering = false
			c.mu.Unlock()
			c.cfg.Logger.Info("cache trusted again after a global invalidation")
			return
		}
		c.mu.Unlock()
	}
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
func computeAll(ctx context.Context, keys []Key, compute ComputeFunc) (map[Key][]byte, error) {
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

// Envelope is the JSON stored under each key: the generation stamp the value
// was computed under, and the value.
type Envelope struct {
	Gen  string          `json:"gen"`
	Data json.RawMessage `json:"data"`
}

// DecodeEnvelope parses a stored value. Anything that is not a well-formed
// envelope with a stamp and data is an error (and so a miss).
func DecodeEnvelope(raw []byte) (Envelope, error) {
	var env Envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return Envelope{}, fmt.Errorf("decode cache envelope: %w", err)
	}
	if env.Gen == "" || len(env.Data) == 0 {
		return Envelope{}, errors.New("decode cache envelope: missing generation or data")
	}
	return env, nil
}

func uniqueKeys(keys []Key) []Key {
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
