package ratelimit

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// gcra is the generic cell rate algorithm in one Lua script, so a request
// costs one round trip and instances share one budget per key. The key holds
// the theoretical arrival time (TAT) of the next request, in seconds since
// an epoch kept small for float precision; it expires when the bucket is
// full again. (The same algorithm as go-redis/redis_rate, written here so
// that every key lives under the gateway's CACHE_PREFIX.)
var gcra = redis.NewScript(`
local key = KEYS[1]
local burst = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local t = redis.call("TIME")
local now = (tonumber(t[1]) - 1700000000) + tonumber(t[2]) / 1000000
local tat = tonumber(redis.call("GET", key)) or now
if tat < now then tat = now end
local new_tat = tat + interval
local wait = new_tat - burst * interval - now
if wait > 0 then
  return {0, tostring(wait)}
end
redis.call("SET", key, tostring(new_tat), "EX", math.ceil(new_tat - now))
return {1, "0"}
`)

// allowRemote spends one request of key's budget in Redis.
func allowRemote(ctx context.Context, client redis.Scripter, key string, limit Limit) (Decision, error) {
	interval := time.Second.Seconds() / float64(limit.PerSecond)
	res, err := gcra.Run(ctx, client, []string{key}, limit.Burst, strconv.FormatFloat(interval, 'f', -1, 64)).Slice()
	if err != nil {
		return Decision{}, fmt.Errorf("rate limit script: %w", err)
	}
	if len(res) != 2 {
		return Decision{}, fmt.Errorf("rate limit script: unexpected reply %v", res)
	}
	allowed, _ := res[0].(int64)
	waitText, _ := res[1].(string)
	wait, err := strconv.ParseFloat(waitText, 64)
	if err != nil {
		return Decision{}, fmt.Errorf("rate limit script: wait %q: %w", waitText, err)
	}
	return Decision{Allowed: allowed == 1, RetryAfter: time.Duration(wait * float64(time.Second))}, nil
}
