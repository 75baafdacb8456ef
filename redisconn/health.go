package redisconn

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// Redis health for /metrics: what INFO says (memory, evictions, expiries,
// clients, replication role), an estimate of the keys under the cache's
// prefix, and the latency of every command the gateway sends. One scrape
// costs one INFO, one DBSIZE and a few RANDOMKEYs per master (pipelined),
// at most every infoMaxAge whatever the scrape rate.

// infoMaxAge is how long one reading of INFO serves scrapes.
const infoMaxAge = 5 * time.Second

// prefixSamples is how many random keys estimate the prefix's share.
const prefixSamples = 32

var (
	usedMemoryDesc = prometheus.NewDesc("authz_redis_used_memory_bytes", "Redis used_memory (summed over masters).", nil, nil)
	maxMemoryDesc  = prometheus.NewDesc("authz_redis_max_memory_bytes", "Redis maxmemory (0: no limit; summed over masters).", nil, nil)
	evictedDesc    = prometheus.NewDesc("authz_redis_evicted_keys_total", "Keys Redis evicted for memory (INFO evicted_keys).", nil, nil)
	expiredDesc    = prometheus.NewDesc("authz_redis_expired_keys_total", "Keys Redis expired (INFO expired_keys).", nil, nil)
	clientsDesc    = prometheus.NewDesc("authz_redis_connected_clients", "Clients connected to Redis (summed over masters).", nil, nil)
	keysDesc       = prometheus.NewDesc("authz_redis_keys", "Keys in the Redis database (DBSIZE, summed over masters).", nil, nil)
	prefixKeysDesc = prometheus.NewDesc("authz_redis_prefix_keys_estimate",
		"Keys under CACHE_PREFIX, estimated from a sample of random keys.", nil, nil)
	roleDesc = prometheus.NewDesc("authz_redis_role", "1 for the role INFO reports for the server the gateway writes to.", []string{"role"}, nil)
	upDesc   = prometheus.NewDesc("authz_redis_up", "1 when the last INFO reading succeeded.", nil, nil)
)

// HealthCollector exports Redis health; NewHealthCollector makes one.
type HealthCollector struct {
	client redis.UniversalClient
	prefix string

	mu      sync.Mutex
	read    time.Time
	reading healthReading
	err     error
}

type healthReading struct {
	usedMemory, maxMemory, evicted, expired, clients, keys, prefixKeys float64
	role                                                               string
}

// NewHealthCollector reads c's health for keys under prefix.
func NewHealthCollector(c redis.UniversalClient, prefix string) *HealthCollector {
	return &HealthCollector{client: c, prefix: prefix}
}

// Describe sends the descriptors.
func (h *HealthCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{usedMemoryDesc, maxMemoryDesc, evictedDesc, expiredDesc, clientsDesc, keysDesc, prefixKeysDesc, roleDesc, upDesc} {
		ch <- d
	}
}

// Collect reads INFO (or reuses a reading younger than infoMaxAge).
func (h *HealthCollector) Collect(ch chan<- prometheus.Metric) {
	r, err := h.current()
	up := 1.0
	if err != nil {
		up = 0
	}
	ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, up)
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(usedMemoryDesc, prometheus.GaugeValue, r.usedMemory)
	ch <- prometheus.MustNewConstMetric(maxMemoryDesc, prometheus.GaugeValue, r.maxMemory)
	ch <- prometheus.MustNewConstMetric(evictedDesc, prometheus.CounterValue, r.evicted)
	ch <- prometheus.MustNewConstMetric(expiredDesc, prometheus.CounterValue, r.expired)
	ch <- prometheus.MustNewConstMetric(clientsDesc, prometheus.GaugeValue, r.clients)
	ch <- prometheus.MustNewConstMetric(keysDesc, prometheus.GaugeValue, r.keys)
	ch <- prometheus.MustNewConstMetric(prefixKeysDesc, prometheus.GaugeValue, r.prefixKeys)
	ch <- prometheus.MustNewConstMetric(roleDesc, prometheus.GaugeValue, 1, r.role)
}

func (h *HealthCollector) current() (healthReading, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if time.Since(h.read) < infoMaxAge {
		return h.reading, h.err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	h.reading, h.err = h.readAll(ctx)
	h.read = time.Now()
	return h.reading, h.err
}

// readAll reads every master of a cluster (summing), or the one server.
func (h *HealthCollector) readAll(ctx context.Context) (healthReading, error) {
	cluster, ok := h.client.(*redis.ClusterClient)
	if !ok {
		return h.readOne(ctx, h.client)
	}
	var mu sync.Mutex
	var sum healthReading
	err := cluster.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		r, err := h.readOne(ctx, c)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		sum.usedMemory += r.usedMemory
		sum.maxMemory += r.maxMemory
		sum.evicted += r.evicted
		sum.expired += r.expired
		sum.clients += r.clients
		sum.keys += r.keys
		sum.prefixKeys += r.prefixKeys
		sum.role = r.role
		return nil
	})
	return sum, err
}

func (h *HealthCollector) readOne(ctx context.Context, c redis.Cmdable) (healthReading, error) {
	pipe := c.Pipeline()
	info := pipe.Info(ctx, "memory", "stats", "clients", "replication")
	size := pipe.DBSize(ctx)
	samples := make([]*redis.StringCmd, prefixSamples)
	for i := range samples {
		samples[i] = pipe.RandomKey(ctx)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return healthReading{}, err
	}
	if info.Err() != nil {
		return healthReading{}, info.Err()
	}
	fields := parseInfo(info.Val())
	r := healthReading{
		usedMemory: fields.number("used_memory"),
		maxMemory:  fields.number("maxmemory"),
		evicted:    fields.number("evicted_keys"),
		expired:    fields.number("expired_keys"),
		clients:    fields.number("connected_clients"),
		keys:       float64(size.Val()),
		role:       fields["role"],
	}
	sampled, matched := 0, 0
	for _, s := range samples {
		if s.Err() != nil {
			continue
		}
		sampled++
		if strings.HasPrefix(s.Val(), h.prefix) {
			matched++
		}
	}
	if sampled > 0 {
		r.prefixKeys = r.keys * float64(matched) / float64(sampled)
	}
	return r, nil
}

type infoFields map[string]string

// parseInfo reads INFO's "name:value" lines.
func parseInfo(text string) infoFields {
	out := make(infoFields)
	for line := range strings.Lines(text) {
		name, value, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && !strings.HasPrefix(name, "#") {
			out[name] = value
		}
	}
	return out
}

func (f infoFields) number(name string) float64 {
	v, _ := strconv.ParseFloat(f[name], 64)
	return v
}

// LatencyHook measures every command and pipeline the client sends, per
// command name ("pipeline" for a pipeline), in a histogram.
type LatencyHook struct {
	seconds *prometheus.HistogramVec
}

// NewLatencyHook returns a hook whose histogram Collector exports.
func NewLatencyHook() *LatencyHook {
	return &LatencyHook{seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "authz_redis_command_seconds",
		Help:    "Latency of Redis commands and pipelines sent by the gateway, by command.",
		Buckets: prometheus.ExponentialBuckets(0.00005, 2, 16),
	}, []string{"command"})}
}

// Collector exports the histogram.
func (h *LatencyHook) Collector() prometheus.Collector { return h.seconds }

// DialHook passes dials through.
func (h *LatencyHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) { return next(ctx, network, addr) }
}

// ProcessHook times one command.
func (h *LatencyHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmd)
		h.seconds.WithLabelValues(cmd.Name()).Observe(time.Since(start).Seconds())
		return err
	}
}

// ProcessPipelineHook times one pipeline.
func (h *LatencyHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmds)
		h.seconds.WithLabelValues("pipeline").Observe(time.Since(start).Seconds())
		return err
	}
}
