package graph

import (
	"context"
	"math"
	"slices"
	"strings"
	"time"

	"authz-gateway/cache"
	"authz-gateway/ent"
	"authz-gateway/graph/model"
	"authz-gateway/loaders"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// cacheStats is Query.cacheStats: this instance's cache counters, the
// latencies and Redis figures of its metrics, and the users its fleet saw
// last, read as the viewer may (the dashboard polls it).
func cacheStats(ctx context.Context, c *cache.Cache, metrics prometheus.Gatherer) (*model.CacheStats, error) {
	s := c.Stats(ctx)
	local := c.LocalStats()
	out := &model.CacheStats{
		Backend:        s.Backend,
		RedisReachable: s.Backend == "redis" && s.Reachable,
		Hits:           int(s.Hits),
		Misses:         int(s.Misses),
		HitRate:        s.HitRate(),
		ReadAt:         time.Now(),
		StoreTrusted:   s.Trusted,
		Invalidations:  int(s.Invalidations),
		L1: &model.L1Stats{Enabled: local.Enabled, Leased: local.Leased, Hits: int(local.Hits), Misses: int(local.Misses),
			Entries: local.Entries, Bytes: int(local.Bytes)},
		FillSeconds: &model.Percentiles{}, RequestSeconds: &model.Percentiles{},
		Kinds: []*model.CacheKindStats{}, Redis: []*model.Figure{}, Counters: []*model.Figure{}, ActiveUsers: []*ent.User{},
	}
	for kind, k := range s.PerKind {
		out.Kinds = append(out.Kinds, &model.CacheKindStats{Kind: string(kind), Hits: int(k.Hits), Misses: int(k.Misses), Stale: int(k.Stale)})
	}
	slices.SortFunc(out.Kinds, func(a, b *model.CacheKindStats) int { return strings.Compare(a.Kind, b.Kind) })
	if metrics != nil {
		families, _ := metrics.Gather()
		for _, f := range families {
			switch name := f.GetName(); name {
			case "authz_cache_fill_seconds":
				out.FillSeconds = histogramPercentiles(f)
			case "authz_http_request_seconds":
				out.RequestSeconds = histogramPercentiles(f)
			case "authz_redis_used_memory_bytes", "authz_redis_max_memory_bytes", "authz_redis_evicted_keys_total",
				"authz_redis_expired_keys_total", "authz_redis_up":
				out.Redis = append(out.Redis, figure(strings.TrimPrefix(name, "authz_redis_"), f))
			case "authz_cache_refresh_ahead_total", "authz_cache_warm_users_total", "authz_write_ack_fenced_total":
				out.Counters = append(out.Counters, figure(strings.TrimPrefix(name, "authz_"), f))
			}
		}
	}
	ids, err := c.RecentlyActive(ctx, time.Now().Add(-24*time.Hour), 10)
	if err != nil || len(ids) == 0 {
		return out, nil // the store's record is an extra: the counters stand without it
	}
	// One batch; a user the viewer may not read is left out.
	if out.ActiveUsers, err = loaders.For(ctx).Users(ctx, ids); err != nil {
		return nil, err
	}
	return out, nil
}

// figure is a gauge's or counter's value (the first series of its family).
func figure(name string, f *dto.MetricFamily) *model.Figure {
	fig := &model.Figure{Name: name}
	if m := f.GetMetric(); len(m) > 0 {
		switch {
		case m[0].GetGauge() != nil:
			fig.Value = m[0].GetGauge().GetValue()
		case m[0].GetCounter() != nil:
			fig.Value = m[0].GetCounter().GetValue()
		}
	}
	return fig
}

// histogramPercentiles estimates the p50 and p99 of a histogram family
// (all its series together), interpolating within buckets as Prometheus's
// histogram_quantile does.
func histogramPercentiles(f *dto.MetricFamily) *model.Percentiles {
	bounds := map[float64]uint64{}
	var total uint64
	for _, m := range f.GetMetric() {
		h := m.GetHistogram()
		if h == nil {
			continue
		}
		total += h.GetSampleCount()
		for _, b := range h.GetBucket() {
			bounds[b.GetUpperBound()] += b.GetCumulativeCount()
		}
	}
	if total == 0 {
		return &model.Percentiles{}
	}
	uppers := make([]float64, 0, len(bounds))
	for u := range bounds {
		uppers = append(uppers, u)
	}
	slices.Sort(uppers)
	quantile := func(q float64) float64 {
		rank := q * float64(total)
		lower, below := 0.0, uint64(0)
		for _, u := range uppers {
			c := bounds[u]
			if float64(c) < rank {
				lower, below = u, c
				continue
			}
			if math.IsInf(u, 1) || c == below {
				return lower
			}
			return lower + (u-lower)*(rank-float64(below))/float64(c-below)
		}
		return lower
	}
	return &model.Percentiles{P50: quantile(0.5), P99: quantile(0.99)}
}
