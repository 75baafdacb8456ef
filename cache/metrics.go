package cache

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// kindCounters counts what happened to lookups of one kind.
type kindCounters struct {
	hits, misses, stale, errors, bypassed atomic.Uint64
}

// metrics are the cache's own counters; a Prometheus collector reads them, and
// so does Stats for the GraphQL cacheStats field.
type metrics struct {
	kinds         map[Kind]*kindCounters
	invalidations atomic.Uint64
	invalidateAll atomic.Uint64
	refreshes     atomic.Uint64
	storeErrors   atomic.Uint64
	fillSeconds   prometheus.Histogram
}

func newMetrics() *metrics {
	m := &metrics{
		kinds: make(map[Kind]*kindCounters, len(Kinds)),
		fillSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "authz_cache_fill_seconds",
			Help:    "Time to compute missed values from the database and store them.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
	}
	for _, k := range Kinds {
		m.kinds[k] = &kindCounters{}
	}
	return m
}

// Stats is a snapshot of the counters.
type Stats struct {
	Backend   string
	Reachable bool
	// Trusted: reads use the store (false while an invalidation is
	// undelivered, until a global one succeeds).
	Trusted       bool
	Hits          uint64
	Misses        uint64
	Stale         uint64
	Errors        uint64
	Bypassed      uint64
	Invalidations uint64
	PerKind       map[Kind]KindStats
}

// KindStats are the counters of one kind.
type KindStats struct {
	Hits, Misses, Stale, Errors, Bypassed uint64
}

// HitRate is hits over all lookups that reached the store, 0 when none did.
func (s Stats) HitRate() float64 {
	total := s.Hits + s.Misses
	if total == 0 {
		return 0
	}
	return float64(s.Hits) / float64(total)
}

func (m *metrics) snapshot() Stats {
	s := Stats{PerKind: make(map[Kind]KindStats, len(Kinds)), Invalidations: m.invalidations.Load()}
	for kind, c := range m.kinds {
		ks := KindStats{
			Hits: c.hits.Load(), Misses: c.misses.Load(), Stale: c.stale.Load(),
			Errors: c.errors.Load(), Bypassed: c.bypassed.Load(),
		}
		s.PerKind[kind] = ks
		s.Hits += ks.Hits
		s.Misses += ks.Misses
		s.Stale += ks.Stale
		s.Errors += ks.Errors
		s.Bypassed += ks.Bypassed
	}
	return s
}

var (
	lookupsDesc = prometheus.NewDesc("authz_cache_lookups_total",
		"Cache lookups by kind and result (hit, miss, stale, error, bypassed).",
		[]string{"kind", "result"}, nil)
	invalidationsDesc = prometheus.NewDesc("authz_cache_invalidations_total",
		"Users invalidated (scope=user) and invalidate-all operations (scope=all).",
		[]string{"scope"}, nil)
	storeErrorsDesc = prometheus.NewDesc("authz_cache_store_errors_total",
		"Failed store operations (Redis errors, timeouts, open circuit).", nil, nil)
	refreshesDesc = prometheus.NewDesc("authz_cache_refresh_ahead_total",
		"Values recomputed ahead of their expiry because they were read often (refresh-ahead).", nil, nil)
	trustedDesc = prometheus.NewDesc("authz_cache_trusted",
		"1 while the cache is used, 0 while an undelivered invalidation keeps it bypassed.", nil, nil)
)

// collector exports a Cache's metrics to Prometheus.
type collector struct{ c *Cache }

func (col collector) Describe(ch chan<- *prometheus.Desc) {
	prometheus.DescribeByCollect(col, ch)
}

func (col collector) Collect(ch chan<- prometheus.Metric) {
	m := col.c.metrics
	for kind, c := range m.kinds {
		for result, v := range map[string]uint64{
			"hit": c.hits.Load(), "miss": c.misses.Load(), "stale": c.stale.Load(),
			"error": c.errors.Load(), "bypassed": c.bypassed.Load(),
		} {
			ch <- prometheus.MustNewConstMetric(lookupsDesc, prometheus.CounterValue, float64(v), string(kind), result)
		}
	}
	ch <- prometheus.MustNewConstMetric(invalidationsDesc, prometheus.CounterValue, float64(m.invalidations.Load()), "user")
	ch <- prometheus.MustNewConstMetric(invalidationsDesc, prometheus.CounterValue, float64(m.invalidateAll.Load()), "all")
	ch <- prometheus.MustNewConstMetric(storeErrorsDesc, prometheus.CounterValue, float64(m.storeErrors.Load()))
	ch <- prometheus.MustNewConstMetric(refreshesDesc, prometheus.CounterValue, float64(m.refreshes.Load()))
	trusted := 1.0
	if col.c.distrust.Load() {
		trusted = 0
	}
	ch <- prometheus.MustNewConstMetric(trustedDesc, prometheus.GaugeValue, trusted)
	m.fillSeconds.Collect(ch)
	if l := col.c.LocalStats(); l.Enabled {
		ch <- prometheus.MustNewConstMetric(localLookupsDesc, prometheus.CounterValue, float64(l.Hits), "hit")
		ch <- prometheus.MustNewConstMetric(localLookupsDesc, prometheus.CounterValue, float64(l.Misses), "miss")
		ch <- prometheus.MustNewConstMetric(localEvictionsDesc, prometheus.CounterValue, float64(l.Evictions))
		ch <- prometheus.MustNewConstMetric(localDropsDesc, prometheus.CounterValue, float64(l.Drops))
		ch <- prometheus.MustNewConstMetric(localBytesDesc, prometheus.GaugeValue, float64(l.Bytes))
		ch <- prometheus.MustNewConstMetric(localEntriesDesc, prometheus.GaugeValue, float64(l.Entries))
		leased := 0.0
		if l.Leased {
			leased = 1
		}
		ch <- prometheus.MustNewConstMetric(localLeasedDesc, prometheus.GaugeValue, leased)
	}
}

// The in-process tier's metrics (present only when it is on).
var (
	localLookupsDesc = prometheus.NewDesc("authz_cache_local_lookups_total",
		"Lookups in the in-process tier (L1) by result; misses go on to the store.", []string{"result"}, nil)
	localEvictionsDesc = prometheus.NewDesc("authz_cache_local_evictions_total",
		"Values evicted from the L1 to stay within CACHE_L1_BYTES.", nil, nil)
	localDropsDesc = prometheus.NewDesc("authz_cache_local_drops_total",
		"Invalidations applied to the L1 (one per change, however many users).", nil, nil)
	localBytesDesc = prometheus.NewDesc("authz_cache_local_bytes",
		"Approximate memory held by the L1.", nil, nil)
	localEntriesDesc = prometheus.NewDesc("authz_cache_local_entries",
		"Values held by the L1.", nil, nil)
	localLeasedDesc = prometheus.NewDesc("authz_cache_local_leased",
		"1 while the L1's lease holds (it answers), 0 otherwise.", nil, nil)
)
