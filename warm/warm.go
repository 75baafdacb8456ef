// Package warm keeps an instance's cache warm: it records which users the
// instance authenticates and, at start-up and after every invalidation of
// everything, recomputes the answers of the most recently active ones.
package warm

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"authz-gateway/cache"
	"authz-gateway/quietlog"
	"authz-gateway/reqctx"

	"github.com/prometheus/client_golang/prometheus"
)

// Every instance notes which users it authenticates and
// merges that, every few seconds, into the store's record of recently active
// users (one round trip, bounded). At start-up, and after this instance
// delivered a change that invalidates everything (invalidateAllCaches, the
// repair of a store that went back in time), it recomputes the answers of
// the most recently active users, in batches, one batch at a time, resting
// between batches so that warming takes at most a set share of the time
// (live requests are never queued behind it: they run beside it).

// Config tunes warming.
type Config struct {
	// Users is how many of the most recently active users are warmed (0:
	// no warming).
	Users int
	// Window is how far back a user counts as recently active.
	Window time.Duration
	// Share bounds the fraction of time a warm run is busy (default 0.25):
	// after a batch that took d it rests d*(1-Share)/Share.
	Share float64
	// Batch is how many users one batch warms (default 100).
	Batch int
	// Flush is how often seen users are recorded in the store (default 5 s).
	Flush time.Duration
}

func (c Config) withDefaults() Config {
	if c.Window <= 0 {
		c.Window = 24 * time.Hour
	}
	if c.Share <= 0 || c.Share > 1 {
		c.Share = 0.25
	}
	if c.Batch <= 0 {
		c.Batch = 100
	}
	if c.Flush <= 0 {
		c.Flush = 5 * time.Second
	}
	return c
}

// Source computes (or confirms cached) every answer a viewer needs, for
// a batch of users (answers.Source).
type Source interface {
	WarmUsers(ctx context.Context, users []int) error
}

// Warmer is this instance's activity record and warming.
type Warmer struct {
	source Source       // set by Start
	cache  *cache.Cache // the store's record of recently active users
	cfg    Config

	mu   sync.Mutex
	seen map[int]time.Time

	wake    chan string // a reason to warm
	running atomic.Bool
	runs    atomic.Int64 // completed runs

	users   prometheus.Counter
	runsC   *prometheus.CounterVec
	active  prometheus.Gauge
	seconds prometheus.Histogram
}

// New returns the warmer of cfg, keeping its record of active users in c's
// store. Start starts it.
func New(cfg Config, c *cache.Cache) *Warmer {
	return &Warmer{
		cache: c,
		cfg:   cfg.withDefaults(),
		seen:  make(map[int]time.Time),
		wake:  make(chan string, 1),
		users: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authz_cache_warm_users_total", Help: "Users whose answers warming recomputed or confirmed."}),
		runsC: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authz_cache_warm_runs_total", Help: "Completed warm runs, by reason (start, invalidate_all)."}, []string{"reason"}),
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "authz_cache_warming", Help: "1 while a warm run is in progress."}),
		seconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "authz_cache_warm_seconds", Help: "Duration of warm runs.", Buckets: prometheus.ExponentialBuckets(0.01, 2, 14)}),
	}
}

// NoteActive records that userID was authenticated now (in memory; the
// store learns it at the next flush).
func (w *Warmer) NoteActive(userID int) {
	if w.cfg.Users <= 0 {
		return
	}
	w.mu.Lock()
	w.seen[userID] = time.Now()
	w.mu.Unlock()
}

// Trigger asks for a warm run (coalesced with one already asked for).
func (w *Warmer) Trigger(reason string) {
	if w.cfg.Users <= 0 {
		return
	}
	select {
	case w.wake <- reason:
	default:
	}
}

// Start records activity and warms the answers of source until stop is
// called; it warms once right away. Warmed reports when that first run has
// finished.
func (w *Warmer) Start(source Source) (stop func()) {
	w.source = source
	ctx, cancel := context.WithCancel(reqctx.NewContextWithSystem(context.Background()))
	var wg sync.WaitGroup
	if w.cfg.Users > 0 {
		w.Trigger("start")
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.run(ctx)
		}()
	}
	return func() {
		cancel()
		wg.Wait()
		w.flush(context.Background()) // what this instance saw is not lost
	}
}

// Warmed reports whether the first warm run has finished (true without
// warming).
func (w *Warmer) Warmed() bool { return w.cfg.Users <= 0 || w.runs.Load() > 0 }

// Collectors exports warming's metrics.
func (w *Warmer) Collectors() []prometheus.Collector {
	return []prometheus.Collector{w.users, w.runsC, w.active, w.seconds}
}

func (w *Warmer) run(ctx context.Context) {
	flush := time.NewTicker(w.cfg.Flush)
	defer flush.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-flush.C:
			w.flush(ctx)
		case reason := <-w.wake:
			w.warmOnce(ctx, reason)
		}
	}
}

// flush merges the users seen since the last flush into the store's record.
func (w *Warmer) flush(ctx context.Context) {
	w.mu.Lock()
	seen := w.seen
	w.seen = make(map[int]time.Time)
	w.mu.Unlock()
	keep := max(4*w.cfg.Users, 1000)
	if err := w.cache.RecordActive(ctx, seen, keep); err != nil && ctx.Err() == nil {
		quietlog.Warn(context.Background(), "warming: recording active users failed", "users", len(seen), "err", err)
	}
}

// warmOnce recomputes (or confirms cached) the answers of the most recently
// active users, a batch at a time, resting between batches.
func (w *Warmer) warmOnce(ctx context.Context, reason string) {
	w.flush(ctx) // the freshest picture of who is active
	start := time.Now()
	w.active.Set(1)
	defer w.active.Set(0)
	defer w.runs.Add(1)
	users, err := w.cache.RecentlyActive(ctx, start.Add(-w.cfg.Window), w.cfg.Users)
	if err != nil {
		quietlog.Warn(context.Background(), "warming: reading the recently active users failed", "reason", reason, "err", err)
		return
	}
	slog.Info("warming the cache", "reason", reason, "users", len(users))
	done := 0
	for batch := range slices.Chunk(users, w.cfg.Batch) {
		began := time.Now()
		if err := w.source.WarmUsers(ctx, batch); err != nil {
			if ctx.Err() == nil {
				quietlog.Warn(context.Background(), "warming: a batch failed; stopping this run", "reason", reason, "done", done, "err", err)
			}
			return
		}
		done += len(batch)
		w.users.Add(float64(len(batch)))
		slog.Info("warming progress", "reason", reason, "done", done, "of", len(users))
		rest := time.Duration(float64(time.Since(began)) * (1 - w.cfg.Share) / w.cfg.Share)
		select {
		case <-ctx.Done():
			return
		case <-time.After(rest):
		}
	}
	w.seconds.Observe(time.Since(start).Seconds())
	w.runsC.WithLabelValues(reason).Inc()
	// A duration's text ("57ms"): as a number, JSON logs showed
	// nanoseconds without a unit.
	slog.Info("cache warmed", "reason", reason, "users", done, "took", time.Since(start).Round(time.Microsecond).String())
}
