package redisconn

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// The bounds of the persisted-query store: how many queries and how many
// bytes of query text it keeps at most. The least recently stored are
// dropped to make room. (A stored query is at most 16 KiB, graph's
// MaxPersistedQueryBytes, so the count alone would allow 160 MiB.)
const (
	MaxPersistedQueries     = 10_000
	MaxPersistedQueryTotal  = 16 << 20
	persistedQueriesHashTag = "{apq}"
)

// QueryStore keeps automatic persisted queries (hash -> query text) in Redis,
// shared by every instance. It satisfies gqlgen's graphql.Cache[string]. A
// Redis failure is a miss: the client then sends the full query again.
//
// Its size is bounded in number and bytes whatever clients send: the
// queries live in one Redis hash with an index of when each was stored and
// a running byte total, all under one hash tag (one Cluster slot) so a
// script can keep them consistent: entries older than the TTL and then the
// oldest go before a new one comes in.
type QueryStore struct {
	client   redis.UniversalClient
	queries  string // hash: sha256 -> query
	index    string // sorted set: sha256 scored by when it was stored (ms)
	total    string // the bytes of every stored query
	ttl      time.Duration
	timeout  time.Duration
	maxCount int
	maxBytes int
}

// NewQueryStore returns a persisted-query store under prefix + "apq:".
func NewQueryStore(client redis.UniversalClient, prefix string, ttl, timeout time.Duration) *QueryStore {
	base := prefix + "apq:" + persistedQueriesHashTag + ":"
	return &QueryStore{client: client, queries: base + "queries", index: base + "stored", total: base + "bytes",
		ttl: ttl, timeout: timeout, maxCount: MaxPersistedQueries, maxBytes: MaxPersistedQueryTotal}
}

// Get returns the query stored under hash.
func (s *QueryStore) Get(ctx context.Context, hash string) (string, bool) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	q, err := s.client.HGet(ctx, s.queries, hash).Result()
	return q, err == nil
}

// addQuery stores ARGV[1] (the hash) -> ARGV[2] (the query) at time
// ARGV[3] (ms), first dropping what is older than ARGV[4] (ms) and then the
// oldest until the count stays under ARGV[5] and the bytes under ARGV[6].
var addQuery = redis.NewScript(`
local queries, index, total = KEYS[1], KEYS[2], KEYS[3]
local hash, query, now, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local maxCount, maxBytes = tonumber(ARGV[5]), tonumber(ARGV[6])
local function drop(h)
  local old = redis.call('HSTRLEN', queries, h)
  redis.call('HDEL', queries, h)
  redis.call('ZREM', index, h)
  redis.call('DECRBY', total, old)
end
if redis.call('HEXISTS', queries, hash) == 1 then
  redis.call('ZADD', index, now, hash)
  return 0
end
if #query > maxBytes then return 0 end
for _, h in ipairs(redis.call('ZRANGEBYSCORE', index, '-inf', now - ttl)) do drop(h) end
while redis.call('ZCARD', index) > 0 and (redis.call('ZCARD', index) >= maxCount
    or tonumber(redis.call('GET', total) or '0') + #query > maxBytes) do
  drop(redis.call('ZRANGE', index, 0, 0)[1])
end
redis.call('HSET', queries, hash, query)
redis.call('ZADD', index, now, hash)
redis.call('INCRBY', total, #query)
for _, k in ipairs(KEYS) do redis.call('PEXPIRE', k, ttl) end
return 1
`)

// Add stores query under hash (gqlgen has checked that the hash matches).
func (s *QueryStore) Add(ctx context.Context, hash, query string) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	_ = addQuery.Run(ctx, s.client, []string{s.queries, s.index, s.total},
		hash, query, time.Now().UnixMilli(), s.ttl.Milliseconds(), s.maxCount, s.maxBytes).Err()
}

// Size is how many queries the store holds and their bytes.
func (s *QueryStore) Size(ctx context.Context) (count, bytes int64, err error) {
	pipe := s.client.Pipeline()
	n := pipe.ZCard(ctx, s.index)
	b := pipe.Get(ctx, s.total)
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return 0, 0, err
	}
	bytes, _ = b.Int64()
	return n.Val(), bytes, nil
}
