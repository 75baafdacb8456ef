package cache

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Recently active users, for cache warming: a bounded record of when each
// user was last seen, kept in the store so that every instance (and a
// restarted one) knows whom to warm. In Redis it is one sorted set (one key:
// cluster-safe), scores in Unix milliseconds.

// activityStore is what a store offers for the record (both stores do).
type activityStore interface {
	recordActive(ctx context.Context, seen map[int]time.Time, keep int) error
	recentlyActive(ctx context.Context, since time.Time, limit int) ([]int, error)
}

// RecordActive merges seen (user -> last seen) into the record, keeping the
// keep most recent users. One round trip.
func (c *Cache) RecordActive(ctx context.Context, seen map[int]time.Time, keep int) error {
	a, ok := c.store.(activityStore)
	if !ok || len(seen) == 0 {
		return nil
	}
	return c.storeOp(ctx, func(ctx context.Context) error { return a.recordActive(ctx, seen, keep) })
}

// RecentlyActive returns up to limit users seen since since, most recent
// first.
func (c *Cache) RecentlyActive(ctx context.Context, since time.Time, limit int) ([]int, error) {
	a, ok := c.store.(activityStore)
	if !ok || limit <= 0 {
		return nil, nil
	}
	var users []int
	err := c.storeOp(ctx, func(ctx context.Context) (err error) {
		users, err = a.recentlyActive(ctx, since, limit)
		return err
	})
	return users, err
}

func (s *RedisStore) recordActive(ctx context.Context, seen map[int]time.Time, keep int) error {
	members := make([]redis.Z, 0, len(seen))
	for u, at := range seen {
		members = append(members, redis.Z{Score: float64(at.UnixMilli()), Member: strconv.Itoa(u)})
	}
	pipe := s.client.Pipeline()
	pipe.ZAddGT(ctx, s.keys.active(), members...)
	pipe.ZRemRangeByRank(ctx, s.keys.active(), 0, int64(-keep-1))
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("redis record activity: %w", err)
	}
	return nil
}

func (s *RedisStore) recentlyActive(ctx context.Context, since time.Time, limit int) ([]int, error) {
	pipe := s.client.Pipeline()
	cmd := pipe.ZRangeArgs(ctx, redis.ZRangeArgs{
		Key: s.keys.active(), Start: "+inf", Stop: strconv.FormatInt(since.UnixMilli(), 10),
		ByScore: true, Rev: true, Count: int64(limit),
	})
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("redis recently active: %w", err)
	}
	users := make([]int, 0, len(cmd.Val()))
	for _, m := range cmd.Val() {
		if u, err := strconv.Atoi(m); err == nil {
			users = append(users, u)
		}
	}
	return users, nil
}

func (s *MemoryStore) recordActive(_ context.Context, seen map[int]time.Time, keep int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active == nil {
		s.active = make(map[int]time.Time)
	}
	for u, at := range seen {
		if at.After(s.active[u]) {
			s.active[u] = at
		}
	}
	for len(s.active) > keep {
		oldest, first := 0, true
		for u, at := range s.active {
			if first || at.Before(s.active[oldest]) {
				oldest, first = u, false
			}
		}
		delete(s.active, oldest)
	}
	return nil
}

func (s *MemoryStore) recentlyActive(_ context.Context, since time.Time, limit int) ([]int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	users := make([]int, 0, len(s.active))
	for u, at := range s.active {
		if !at.Before(since) {
			users = append(users, u)
		}
	}
	slices.SortFunc(users, func(a, b int) int { return s.active[b].Compare(s.active[a]) })
	return users[:min(limit, len(users))], nil
}
