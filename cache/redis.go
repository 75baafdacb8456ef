package cache

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisClient lists the only Redis methods the store uses, so a standalone,
// Sentinel-backed or Cluster client all fit (they are redis.UniversalClient).
type redisClient interface {
	Pipeline() redis.Pipeliner
	Ping(ctx context.Context) *redis.StatusCmd
}

// RedisStore keeps values and generation tokens in Redis. Keys of one user share
// a hash slot; pipelines are cluster-safe (go-redis splits them per node).
type RedisStore struct {
	client redisClient
	keys   keyspace
	// genTTL bounds how long an idle user's generation token lives. Any value is
	// safe: a missing token is recreated fresh and invalidates old entries.
	genTTL time.Duration
}

var _ Store = (*RedisStore)(nil)

// NewRedisStore returns a store on client with every key prefixed by prefix.
// genTTL should be at least the longest value TTL, so idle users keep hits.
func NewRedisStore(client redis.UniversalClient, prefix string, genTTL time.Duration) *RedisStore {
	return &RedisStore{client: client, keys: keyspace{prefix: prefix}, genTTL: genTTL}
}

// Backend names the tier.
func (s *RedisStore) Backend() string { return "redis" }

// KeyPrefix returns the prefix of every key.
func (s *RedisStore) KeyPrefix() string { return s.keys.prefix }

// Ping checks that Redis answers.
func (s *RedisStore) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis ping: %w", err)
	}
	return nil
}

// Load reads (and creates where missing) the generation tokens and the values
// in one pipeline. SET NX GET returns the existing token, or nil when ours was
// set; it needs Redis 7.0 or newer.
func (s *RedisStore) Load(ctx context.Context, users []int, keys []Key) (Snapshot, error) {
	pipe := s.client.Pipeline()
	globalTok := newToken()
	globalCmd := pipe.SetArgs(ctx, s.keys.globalGen(), globalTok, redis.SetArgs{Mode: "NX", Get: true})
	userToks := make([]string, len(users))
	userCmds := make([]*redis.StatusCmd, len(users))
	for i, u := range users {
		userToks[i] = newToken()
		userCmds[i] = pipe.SetArgs(ctx, s.keys.userGen(u), userToks[i],
			redis.SetArgs{Mode: "NX", Get: true, TTL: s.genTTL})
	}
	valueCmds := make([]*redis.StringCmd, len(keys))
	for i, k := range keys {
		valueCmds[i] = pipe.Get(ctx, s.keys.data(k))
	}
	appliedCmd := pipe.Get(ctx, s.keys.applied())
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return Snapshot{}, fmt.Errorf("redis load: %w", err)
	}

	snap := Snapshot{Users: make(map[int]string, len(users)), Values: make(map[Key][]byte, len(keys))}
	var err error
	if snap.Global, err = tokenResult(globalCmd, globalTok); err != nil {
		return Snapshot{}, err
	}
	for i, u := range users {
		if snap.Users[u], err = tokenResult(userCmds[i], userToks[i]); err != nil {
			return Snapshot{}, err
		}
	}
	if snap.Applied, err = appliedCmd.Int64(); err != nil && !errors.Is(err, redis.Nil) {
		return Snapshot{}, fmt.Errorf("redis applied position: %w", err)
	}
	for i, k := range keys {
		b, err := valueCmds[i].Bytes()
		switch {
		case errors.Is(err, redis.Nil):
		case err != nil:
			return Snapshot{}, fmt.Errorf("redis get %s: %w", k, err)
		default:
			snap.Values[k] = b
		}
	}
	return snap, nil
}

// tokenResult reads a SET NX GET reply: the previous token, or ours if none.
func tokenResult(cmd *redis.StatusCmd, ours string) (string, error) {
	v, err := cmd.Result()
	switch {
	case errors.Is(err, redis.Nil):
		return ours, nil
	case err != nil:
		return "", fmt.Errorf("redis generation %s: %w", cmd.Args()[1], err)
	}
	return v, nil
}

// Save writes the entries in one pipeline.
func (s *RedisStore) Save(ctx context.Context, entries []Entry) error {
	pipe := s.client.Pipeline()
	for _, e := range entries {
		pipe.Set(ctx, s.keys.data(e.Key), e.Value, e.TTL)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("redis save: %w", err)
	}
	return nil
}

// BumpUsers replaces each user's token, deletes the user's values and raises
// the applied position, in one pipeline.
func (s *RedisStore) BumpUsers(ctx context.Context, users []int, position, floor int64) error {
	pipe := s.client.Pipeline()
	for _, u := range users {
		pipe.Set(ctx, s.keys.userGen(u), newToken(), s.genTTL)
		pipe.Del(ctx, s.keys.allData(u)...)
	}
	raised := s.raiseApplied(ctx, pipe, position, floor)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("redis invalidate users: %w", err)
	}
	if raised != nil && raised.Val() == raiseRefused {
		return ErrStoreBehind
	}
	return nil
}

// BumpAll replaces the global token (and raises the applied position).
func (s *RedisStore) BumpAll(ctx context.Context, position int64) error {
	pipe := s.client.Pipeline()
	pipe.Set(ctx, s.keys.globalGen(), newToken(), 0)
	// The global token is replaced in the same pipeline: every value
	// before it is invalid, so the position may move over any gap.
	s.raiseApplied(ctx, pipe, position, 0)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("redis invalidate all: %w", err)
	}
	return nil
}

// raiseApplied sets the applied position to ARGV[1] unless it is already
// further (deliveries may finish out of order, and the position must only
// move forward), and only if it has reached the floor ARGV[2]: a store
// behind the floor went back in time, and moving its position over the gap
// would make it look current (-1 then, the position untouched).
var raiseApplied = redis.NewScript(`
local current = tonumber(redis.call("GET", KEYS[1]) or "0")
if current < tonumber(ARGV[2]) then return -1 end
if tonumber(ARGV[1]) > current then redis.call("SET", KEYS[1], ARGV[1]) end
return 0`)

const raiseRefused = -1

func (s *RedisStore) raiseApplied(ctx context.Context, pipe redis.Pipeliner, position, floor int64) *redis.Cmd {
	if position <= 0 {
		return nil
	}
	// Eval, not EvalSha: a pipeline cannot fall back on NOSCRIPT.
	return raiseApplied.Eval(ctx, pipe, []string{s.keys.applied()}, position, floor)
}
