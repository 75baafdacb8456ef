package redisconn_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"authz-gateway/internal/testenv"
	"authz-gateway/redisconn"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestQueryStore_Bounded: however many queries clients store, the store
// keeps at most MaxPersistedQueries of them and MaxPersistedQueryTotal
// bytes, dropping the oldest; the newest is always there, and a stored
// query is served by hash.
func TestQueryStore_Bounded(t *testing.T) {
	srv := testenv.StartRedis(t)
	client := testenv.NewRedisClient(t, srv.Addr)
	ctx := context.Background()
	store := redisconn.NewQueryStore(client, "test:", 24*time.Hour, time.Second)

	// Bytes first: 2 KiB queries reach the byte bound before the count.
	big := strings.Repeat("x", 2048)
	n := redisconn.MaxPersistedQueryTotal/2048 + 100
	for i := range n {
		store.Add(ctx, fmt.Sprintf("big-%d", i), big)
	}
	count, bytes, err := store.Size(ctx)
	require.NoError(t, err)
	assert.LessOrEqual(t, bytes, int64(redisconn.MaxPersistedQueryTotal))
	assert.Equal(t, int64(redisconn.MaxPersistedQueryTotal/2048), count)
	_, ok := store.Get(ctx, "big-0")
	assert.False(t, ok, "the oldest made room")
	q, ok := store.Get(ctx, fmt.Sprintf("big-%d", n-1))
	assert.True(t, ok, "the newest is kept")
	assert.Equal(t, big, q)

	// Then the count: small queries, more of them than the bound.
	for i := range redisconn.MaxPersistedQueries + 50 {
		store.Add(ctx, fmt.Sprintf("small-%d", i), "{ me { id } }")
	}
	count, bytes, err = store.Size(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(redisconn.MaxPersistedQueries), count)
	assert.Equal(t, int64(redisconn.MaxPersistedQueries*len("{ me { id } }")), bytes, "the byte total follows every drop")
	used, err := client.MemoryUsage(ctx, "test:apq:{apq}:queries").Result()
	require.NoError(t, err)
	assert.Less(t, used, int64(4<<20), "Redis holds what the bounds say")
}
