package redisconn

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// poolStatser is the part of a Redis client that reports its pool.
type poolStatser interface{ PoolStats() *redis.PoolStats }

var poolDesc = prometheus.NewDesc("authz_redis_pool", "Redis connection pool statistics.", []string{"stat"}, nil)

// NewPoolCollector exports a Redis client's pool statistics.
func NewPoolCollector(c poolStatser) prometheus.Collector { return poolCollector{c: c} }

type poolCollector struct{ c poolStatser }

func (p poolCollector) Describe(ch chan<- *prometheus.Desc) { ch <- poolDesc }

func (p poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := p.c.PoolStats()
	for name, v := range map[string]uint32{
		"hits": s.Hits, "misses": s.Misses, "timeouts": s.Timeouts,
		"total_conns": s.TotalConns, "idle_conns": s.IdleConns, "stale_conns": s.StaleConns,
	} {
		ch <- prometheus.MustNewConstMetric(poolDesc, prometheus.GaugeValue, float64(v), name)
	}
}
