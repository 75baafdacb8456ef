package testenv

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The tests write to their own database of a shared Redis (15 unless
// TEST_REDIS_DB says otherwise), never to database 0, where a shared
// server's owner keeps their data; the gateways they build use it too.
func TestRedis_TestsNeverWriteToDatabaseZero(t *testing.T) {
	client, _ := Redis(t)
	info, err := client.ClientInfo(context.Background()).Result()
	require.NoError(t, err)
	assert.Equal(t, RedisDB(), info.DB)
	if os.Getenv("TEST_REDIS_DB") == "" {
		assert.Equal(t, 15, info.DB, "the default is not database 0")
	}

	url, _ := (&Gateway{}).redis(t, Options{})
	assert.True(t, strings.HasSuffix(url, fmt.Sprintf("/%d", RedisDB())), url)
}
