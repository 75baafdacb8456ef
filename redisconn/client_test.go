package redisconn_test

import (
	"testing"

	"authz-gateway/redisconn"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewClient_Topologies(t *testing.T) {
	c, err := redisconn.NewClient(redisconn.Options{ClusterAddrs: []string{"127.0.0.1:7000", "127.0.0.1:7001"}})
	require.NoError(t, err)
	assert.IsType(t, &redis.ClusterClient{}, c)

	c, err = redisconn.NewClient(redisconn.Options{SentinelMaster: "mymaster", SentinelAddrs: []string{"127.0.0.1:26379"}})
	require.NoError(t, err)
	assert.IsType(t, &redis.Client{}, c, "a failover client")

	c, err = redisconn.NewClient(redisconn.Options{URL: "redis://:secret@127.0.0.1:6380/3"})
	require.NoError(t, err)
	opts := c.(*redis.Client).Options()
	assert.Equal(t, "127.0.0.1:6380", opts.Addr)
	assert.Equal(t, 3, opts.DB)
	assert.Equal(t, "secret", opts.Password)

	c, err = redisconn.NewClient(redisconn.Options{Host: "redis.internal", DB: 2})
	require.NoError(t, err)
	assert.Equal(t, "redis.internal:6379", c.(*redis.Client).Options().Addr)

	_, err = redisconn.NewClient(redisconn.Options{URL: "http://nope"})
	assert.Error(t, err)
	_, err = redisconn.NewClient(redisconn.Options{SentinelMaster: "m"})
	assert.Error(t, err, "sentinel needs addresses")
}
