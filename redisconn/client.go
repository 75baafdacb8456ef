// Package redisconn is the adapter to Redis that the cache, the rate limiter
// and the persisted-query store share: a client from configuration (standalone,
// Sentinel or Cluster, failing fast), its pool statistics for Prometheus, and
// the persisted-query store.
package redisconn

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/redis/go-redis/v9"

	"authz-gateway/redact"
)

// Options says how to reach Redis: a URL, a host and port, a Sentinel
// group or a Cluster.
type Options struct {
	URL            string   // redis:// or rediss:// (REDIS_URL); wins over Host/Port
	Host           string   // REDIS_HOST
	Port           string   // REDIS_PORT (default 6379)
	DB             int      // REDIS_DB
	Password       string   // REDIS_PASSWORD
	SentinelMaster string   // REDIS_SENTINEL_MASTER: use Sentinel with SentinelAddrs
	SentinelAddrs  []string // REDIS_SENTINEL_ADDRS (comma-separated host:port)
	ClusterAddrs   []string // REDIS_CLUSTER_ADDRS: use Cluster
	// Timeout bounds dialing, reads and writes (default 100 ms): an outage
	// must cost milliseconds, not seconds, before the breaker opens.
	Timeout time.Duration
}

// Configured reports whether any Redis setting is present.
func (o Options) Configured() bool {
	return o.URL != "" || o.Host != "" || o.SentinelMaster != "" || len(o.ClusterAddrs) > 0
}

// NewClient returns a client for o. Retries are off: a failed command
// falls back to the database at once instead of multiplying latency.
func NewClient(o Options) (redis.UniversalClient, error) {
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 100 * time.Millisecond
	}
	u := &redis.UniversalOptions{
		DB:           o.DB,
		Password:     o.Password,
		DialTimeout:  2 * timeout,
		ReadTimeout:  timeout,
		WriteTimeout: timeout,
		PoolTimeout:  timeout,
		MaxRetries:   -1,
		// One dial attempt: go-redis retries dials five times 100 ms apart by
		// default, which turns "connection refused" into half a second.
		DialerRetries:      1,
		DialerRetryTimeout: time.Millisecond,
		PoolSize:           64,
		DisableIdentity:    true,
	}
	switch {
	case o.URL != "":
		parsed, err := redis.ParseURL(o.URL)
		if err != nil {
			return nil, fmt.Errorf("REDIS_URL: %w", redact.Error(err))
		}
		u.Addrs, u.DB, u.Password, u.Username, u.TLSConfig = []string{parsed.Addr}, parsed.DB, parsed.Password, parsed.Username, parsed.TLSConfig
	case o.SentinelMaster != "":
		if len(o.SentinelAddrs) == 0 {
			return nil, fmt.Errorf("REDIS_SENTINEL_MASTER needs REDIS_SENTINEL_ADDRS")
		}
		u.MasterName, u.Addrs = o.SentinelMaster, o.SentinelAddrs
	case len(o.ClusterAddrs) > 0:
		u.Addrs, u.IsClusterMode = o.ClusterAddrs, true
	default:
		port := o.Port
		if port == "" {
			port = "6379"
		}
		u.Addrs = []string{net.JoinHostPort(o.Host, port)}
	}
	return redis.NewUniversalClient(u), nil
}

// SilenceLogs stops go-redis from logging every failed dial: during an
// outage the cache logs one rate-limited warning of its own instead.
func SilenceLogs() { redis.SetLogger(quietLogger{}) }

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}
