package redisconn

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// QueryStore keeps automatic persisted queries (hash -> query text) in Redis,
// shared by every instance. It satisfies gqlgen's graphql.Cache[string]. A
// Redis failure is a miss: the client then sends the full query again.
type QueryStore struct {
	client  redis.UniversalClient
	prefix  string
	ttl     time.Duration
	timeout time.Duration
}

// NewQueryStore returns a persisted-query store under prefix + "apq:".
func NewQueryStore(client redis.UniversalClient, prefix string, ttl, timeout time.Duration) *QueryStore {
	return &QueryStore{client: client, prefix: prefix + "apq:", ttl: ttl, timeout: timeout}
}

// Get returns the query stored under hash.
func (s *QueryStore) Get(ctx context.Context, hash string) (string, bool) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	q, err := s.client.Get(ctx, s.prefix+hash).Result()
	return q, err == nil
}

// Add stores query under hash (gqlgen has checked that the hash matches).
func (s *QueryStore) Add(ctx context.Context, hash, query string) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	_ = s.client.Set(ctx, s.prefix+hash, query, s.ttl).Err()
}
