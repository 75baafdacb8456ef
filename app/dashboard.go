package app

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"authz-gateway/access"
	"authz-gateway/apperr"
	"authz-gateway/ent"
	"authz-gateway/ent/accesschange"
	"authz-gateway/ent/user"
	"authz-gateway/reqctx"

	dto "github.com/prometheus/client_model/go"
)

// The dashboard's data (/dashboard/data, polled by the page every 2 s): this
// instance's counters and state, Redis's health, the most active users and
// the latest access changes. It needs a token with CACHE_MANAGE, like the
// cache's GraphQL operations.

type dashboardData struct {
	Time          int64                 `json:"time"`
	Kinds         map[string]kindCounts `json:"kinds"`
	L1            l1Counts              `json:"l1"`
	Invalidations uint64                `json:"invalidations"`
	Fill          percentiles           `json:"fill"`
	Request       percentiles           `json:"request"`
	Redis         map[string]float64    `json:"redis"`
	Trust         map[string]bool       `json:"trust"`
	ActiveUsers   []dashboardUser       `json:"activeUsers"`
	Changes       []dashboardChange     `json:"changes"`
	Backend       string                `json:"backend"`
	Extra         map[string]float64    `json:"extra"`
}

type kindCounts struct {
	Hits, Misses, Stale uint64
}

type l1Counts struct {
	Enabled, Leased bool
	Hits, Misses    uint64
	Entries         int
	Bytes           int64
}

type percentiles struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
}

type dashboardUser struct {
	ID    int    `json:"id"`
	Email string `json:"email"`
}

type dashboardChange struct {
	ID        int       `json:"id"`
	Operation string    `json:"operation"`
	Target    string    `json:"target"`
	CreatedAt time.Time `json:"createdAt"`
	Delivered bool      `json:"delivered"`
}

// dashboardHandler answers /dashboard/data, behind the authentication
// middlewares.
func (a *App) dashboardHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		ctx, err := a.dashboardViewer(r)
		if err != nil {
			w.WriteHeader(dashboardStatus[apperr.CodeOf(err)])
			_ = json.NewEncoder(w).Encode(map[string]string{"error": apperr.MessageOf(err), "code": string(apperr.CodeOf(err))})
			return
		}
		_ = json.NewEncoder(w).Encode(a.collectDashboard(ctx))
	})
}

// dashboardStatus is the HTTP status of each refusal.
var dashboardStatus = map[apperr.Code]int{
	apperr.Unauthenticated: http.StatusUnauthorized,
	apperr.Forbidden:       http.StatusForbidden,
	apperr.Unavailable:     http.StatusServiceUnavailable,
	apperr.Internal:        http.StatusInternalServerError,
}

// dashboardViewer requires the viewer the gate loaded to hold
// CACHE_MANAGE (the authz service decides, as for the cache's mutations).
func (a *App) dashboardViewer(r *http.Request) (context.Context, error) {
	ctx := r.Context()
	if err := reqctx.RequireViewer(ctx); err != nil {
		return nil, err
	}
	if _, err := a.authz.Require(ctx, access.CacheManage); err != nil {
		return nil, err
	}
	return ctx, nil
}

func (a *App) collectDashboard(ctx context.Context) dashboardData {
	stats := a.cache.Stats(ctx)
	local := a.cache.LocalStats()
	d := dashboardData{
		Time:          time.Now().UnixMilli(),
		Kinds:         make(map[string]kindCounts),
		L1:            l1Counts{Enabled: local.Enabled, Leased: local.Leased, Hits: local.Hits, Misses: local.Misses, Entries: local.Entries, Bytes: local.Bytes},
		Invalidations: stats.Invalidations,
		Backend:       stats.Backend,
		Redis:         map[string]float64{},
		Trust:         map[string]bool{"storeTrusted": stats.Trusted, "storeReachable": stats.Reachable, "l1Leased": local.Leased},
		Extra:         map[string]float64{},
	}
	for kind, k := range stats.PerKind {
		d.Kinds[string(kind)] = kindCounts{Hits: k.Hits, Misses: k.Misses, Stale: k.Stale}
	}
	families, _ := a.metricsRegistry.Gather()
	for _, f := range families {
		switch f.GetName() {
		case "authz_cache_fill_seconds":
			d.Fill = histogramPercentiles(f)
		case "authz_http_request_seconds":
			d.Request = histogramPercentiles(f)
		case "authz_redis_used_memory_bytes", "authz_redis_max_memory_bytes", "authz_redis_evicted_keys_total",
			"authz_redis_expired_keys_total", "authz_redis_up":
			if m := f.GetMetric(); len(m) > 0 {
				d.Redis[strings.TrimPrefix(f.GetName(), "authz_redis_")] = value(m[0])
			}
		case "authz_cache_refresh_ahead_total", "authz_cache_warm_users_total", "authz_write_ack_fenced_total":
			if m := f.GetMetric(); len(m) > 0 {
				d.Extra[strings.TrimPrefix(f.GetName(), "authz_")] = value(m[0])
			}
		}
	}
	// Users and log entries are read as the viewer, through the same
	// privacy rules as GraphQL: other users' emails need USER_READ, the log
	// needs AUDIT_READ and shows only entries about objects in reach.
	if ids, err := a.cache.RecentlyActive(ctx, time.Now().Add(-24*time.Hour), 10); err == nil && len(ids) > 0 {
		users, _ := a.db.Client.User.Query().Where(user.IDIn(ids...)).All(ctx)
		for _, id := range ids {
			if i := slices.IndexFunc(users, func(u *ent.User) bool { return u.ID == id }); i >= 0 {
				d.ActiveUsers = append(d.ActiveUsers, dashboardUser{ID: id, Email: users[i].Email})
			}
		}
	}
	changes, _ := a.db.Client.AccessChange.Query().Order(ent.Desc(accesschange.FieldID)).Limit(10).All(ctx)
	for _, c := range changes {
		d.Changes = append(d.Changes, dashboardChange{ID: c.ID, Operation: c.Operation, Target: c.Target, CreatedAt: c.CreatedAt, Delivered: c.DeliveredAt != nil})
	}
	return d
}

func value(m *dto.Metric) float64 {
	switch {
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	}
	return 0
}

// histogramPercentiles estimates the p50 and p99 of a histogram family
// (all its series together), interpolating within buckets as Prometheus's
// histogram_quantile does.
func histogramPercentiles(f *dto.MetricFamily) percentiles {
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
		return percentiles{}
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
			if c := bounds[u]; float64(c) >= rank {
				if math.IsInf(u, 1) || c == below {
					return lower
				}
				return lower + (u-lower)*(rank-float64(below))/float64(c-below)
			} else {
				lower, below = u, c
			}
		}
		return lower
	}
	return percentiles{P50: quantile(0.5), P99: quantile(0.99)}
}
