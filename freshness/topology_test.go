package freshness_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"authz-gateway/internal/testenv"
	"authz-gateway/ratelimit"
	"authz-gateway/redisconn"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A Sentinel failover to a replica that missed the revoke's writes: before
// the log, 290 of 290 reads on both instances showed the revoked grant.
func TestLog_SentinelFailoverServesNothingStale(t *testing.T) {
	testenv.Slow(t, "a Sentinel failover")
	group := testenv.StartSentinelGroup(t)
	opts := testenv.Options{Redis: redisconn.Options{SentinelMaster: group.Name, SentinelAddrs: []string{group.Sentinel.Addr}}}
	one := testenv.NewGateway(t, opts)
	opts.DatabaseURL = one.DatabaseURL
	two := testenv.NewGateway(t, opts)
	gw := newGrantWatch(t, one)
	require.True(t, gw.shows(t, one))
	require.True(t, gw.shows(t, two))
	require.NoError(t, one.Redis.Do(context.Background(), "WAIT", 1, 2000).Err(), "the replica has the grant")

	// The replica stops, and its link is cut: the revoke reaches the master only.
	require.NoError(t, group.Replica.Freeze())
	master := testenv.NewRedisClient(t, group.Master.Addr)
	require.NoError(t, master.ClientKillByFilter(context.Background(), "TYPE", "replica").Err())
	_ = master.Close()
	_, err := one.Authz.SetScopeActive(testenv.AsUser(one.Admin.ID), gw.scope, false)
	require.NoError(t, err)
	require.False(t, gw.shows(t, two))

	group.Master.Kill()
	require.NoError(t, group.Replica.Thaw())
	group.WaitPromoted(t)
	stale, reads := gw.staleReads(t, time.Second, one, two)
	t.Logf("%d of %d reads after the failover showed the revoked grant", stale, reads)
	assert.Zero(t, stale)
}

// Redis Cluster: grant and revoke rounds read on two instances, then a
// failover of the master holding the user's slot.
func TestLog_ClusterRoundsAndFailover(t *testing.T) {
	testenv.Slow(t, "a Redis Cluster failover")
	cluster := testenv.StartCluster(t)
	opts := testenv.Options{Redis: redisconn.Options{ClusterAddrs: cluster.Addrs()},
		RateLimit: ratelimit.Limit{PerSecond: 1, Burst: 3}}
	one := testenv.NewGateway(t, opts)
	opts.DatabaseURL = one.DatabaseURL
	two := testenv.NewGateway(t, opts)
	gw := newGrantWatch(t, one)
	admin := testenv.AsUser(one.Admin.ID)
	for round := range 5 {
		_, err := one.Authz.SetScopeActive(admin, gw.scope, false)
		require.NoError(t, err)
		assert.False(t, gw.shows(t, one), "round %d: revoked on one", round)
		assert.False(t, gw.shows(t, two), "round %d: revoked on two", round)
		_, err = two.Authz.SetScopeActive(admin, gw.scope, true)
		require.NoError(t, err)
		assert.True(t, gw.shows(t, one), "round %d: granted on one", round)
		assert.True(t, gw.shows(t, two), "round %d: granted on two", round)
	}

	// The rate limiter and persisted queries work on the cluster too: a
	// query persisted through one instance is known to the other, and the
	// budget is shared.
	query := `{ me { id } }`
	sum := sha256.Sum256([]byte(query))
	apq := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hex.EncodeToString(sum[:])}}
	token := one.Token(t, one.Admin.ID)
	testenv.MustOK(t, testenv.PostExtensions(t, one.Handler, token, query, apq))
	testenv.MustOK(t, testenv.PostExtensions(t, two.Handler, token, "", apq))
	testenv.MustOK(t, testenv.PostExtensions(t, one.Handler, token, query, nil))
	limited := testenv.PostExtensions(t, two.Handler, token, query, nil)
	assert.Equal(t, []string{"RATE_LIMITED"}, limited.Codes(), "the fourth request in a burst of 3, on either instance")

	owner := cluster.MasterOf(t, fmt.Sprintf("gen:{%d}", gw.user))
	owner.Kill()
	_, err := one.Authz.SetScopeActive(admin, gw.scope, false)
	require.NoError(t, err, "the revoke commits while the slot's master is gone")
	cluster.WaitHealthy(t)
	stale, reads := gw.staleReads(t, time.Second, one, two)
	t.Logf("%d of %d reads after the failover showed the revoked grant", stale, reads)
	assert.Zero(t, stale)
}
