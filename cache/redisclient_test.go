package cache_test

import (
	"testing"

	"authz-gateway/cache"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewRedisClient_Topologies(t *testing.T) {
	c, err := cache.NewRedisClient(cache.RedisOptions{ClusterAddrs: []string{"127.0.0.1:7000", "127.0.0.1:7001"}})
	require.NoError(t, err)
	assert.IsType(t, &redis.ClusterClient{}, c)

	c, err = cache.NewRedisClient(cache.RedisOptions{SentinelMaster: "mymaster", SentinelAddrs: []string{"127.0.0.1:26379"}})
	require.NoError(t, err)
	assert.IsType(t, &redis.Client{}, c, "a failover client")

	c, err = cache.NewRedisClient(cache.RedisOptions{URL: "redis://:secret@127.0.0.1:6380/3"})
	require.NoError(t, err)
	opts := c.(*redis.Client).Options()
	assert.Equal(t, "127.0.0.1:6380", opts.Addr)
	assert.Equal(t, 3, opts.DB)
	assert.Equal(t, "secret", opts.Password)

	c, err = cache.NewRedisClient(cache.RedisOptions{Host: "redis.internal", DB: 2})
	require.NoError(t, err)
	assert.Equal(t, "redis.internal:6379", c.(*redis.Client).Options().Addr)

	_, err = cache.NewRedisClient(cache.RedisOptions{URL: "http://nope"})
	assert.Error(t, err)
	_, err = cache.NewRedisClient(cache.RedisOptions{SentinelMaster: "m"})
	assert.Error(t, err, "sentinel needs addresses")
	assert.Equal(t, []string{"a:1", "b:2"}, cache.SplitAddrs(" a:1, ,b:2 "))
}
