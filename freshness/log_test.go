package freshness_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"authz-gateway/answers"
	"authz-gateway/ent"
	"authz-gateway/ent/accesschange"
	"authz-gateway/ent/accesschangeuser"
	"authz-gateway/internal/testenv"
	"authz-gateway/reqctx"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// grantWatch is a user holding a scope on one project, and a way to ask an
// instance whether it still shows the grant.
type grantWatch struct {
	user, project, scope int
}

func newGrantWatch(t *testing.T, g *testenv.Gateway) grantWatch {
	w := testenv.NewWorld(t, g.DB.Client)
	project := w.Project(w.Program("B"), "b1")
	u := w.User("watched@test.example")
	return grantWatch{user: u, project: project, scope: w.InProject(u, project)}
}

func (gw grantWatch) shows(t *testing.T, g *testenv.Gateway) bool {
	t.Helper()
	ids, err := projectIDs(g.Answers, gw.user)
	require.NoError(t, err)
	return slices.Contains(ids, gw.project)
}

// staleReads reads on every instance for d and counts the reads that still
// show the grant.
func (gw grantWatch) staleReads(t *testing.T, d time.Duration, instances ...*testenv.Gateway) (stale, reads int) {
	for end := time.Now().Add(d); time.Now().Before(end); {
		for _, g := range instances {
			reads++
			if gw.shows(t, g) {
				stale++
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	return stale, reads
}

// Redis restarted from a snapshot taken before a revoke: the token and the
// value go back together, and the snapshot holds the grant. Before the log,
// every read on both instances showed it (224 of 224).
func TestLog_SnapshotRollbackServesNothingStale(t *testing.T) {
	redisServer := testenv.StartRedis(t)
	one := testenv.NewGateway(t, testenv.Options{RedisAddr: redisServer.Addr})
	two := testenv.NewGateway(t, testenv.Options{DatabaseURL: one.DatabaseURL, RedisAddr: redisServer.Addr})
	gw := newGrantWatch(t, one)
	require.True(t, gw.shows(t, one))
	require.True(t, gw.shows(t, two)) // cached in Redis

	require.NoError(t, one.Redis.Save(context.Background()).Err())
	_, err := one.Authz.SetScopeActive(testenv.AsUser(one.Admin.ID), gw.scope, false)
	require.NoError(t, err)
	require.False(t, gw.shows(t, one))
	require.False(t, gw.shows(t, two))

	redisServer.Restart(t) // back to the snapshot: the grant is in Redis again
	stale, reads := gw.staleReads(t, time.Second, one, two)
	t.Logf("%d of %d reads after the rollback showed the revoked grant", stale, reads)
	assert.Zero(t, stale)

	// Repaired, the store is used again.
	require.Eventually(t, func() bool {
		before := two.CacheHits()
		gw.shows(t, two)
		return two.CacheHits() > before
	}, 5*time.Second, 20*time.Millisecond, "reads hit the cache again (the repaired store, then the L1)")
}

// The writer revoked while Redis was frozen and died before Redis resumed:
// its delivery never happened. Before the log, the other instance served the
// grant until the TTL once Redis resumed.
func TestLog_DeadWritersChangeIsDeliveredByAnother(t *testing.T) {
	testenv.Slow(t, "a dead writer's grace")
	redisServer := testenv.StartRedis(t)
	one := testenv.NewGateway(t, testenv.Options{RedisAddr: redisServer.Addr})
	two := testenv.NewGateway(t, testenv.Options{DatabaseURL: one.DatabaseURL, RedisAddr: redisServer.Addr})
	gw := newGrantWatch(t, one)
	require.True(t, gw.shows(t, two))

	require.NoError(t, redisServer.Freeze())
	_, err := one.Authz.SetScopeActive(testenv.AsUser(one.Admin.ID), gw.scope, false)
	require.NoError(t, err, "the revoke commits; its delivery times out")
	committed := time.Now()
	one.App.Close() // the writer dies, its delivery undone
	require.NoError(t, redisServer.Thaw())
	thawed := time.Now()

	var lastStale time.Duration = -1
	for time.Since(thawed) < 1500*time.Millisecond {
		if gw.shows(t, two) {
			lastStale = time.Since(committed)
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Logf("the other instance showed the revoked grant until %v after the commit (-1: never); Redis resumed %v after it",
		lastStale, thawed.Sub(committed))
	assert.Less(t, lastStale, deadWriterBound, "at most the grace after the commit")

	ctx := reqctx.NewContextWithSystem(context.Background())
	require.Eventually(t, func() bool {
		return two.DB.Client.AccessChange.Query().Where(accesschange.DeliveredAtIsNil()).CountX(ctx) == 0
	}, 3*time.Second, 20*time.Millisecond, "the other instance delivered the entry")
}

// deadWriterBound is docs/freshness.md's bound for a dead writer's change: the
// grace (250 ms) after its commit, plus the time to notice.
const deadWriterBound = 400 * time.Millisecond

// Start-up writes and manual invalidations are access changes like any
// other: logged, with their users, and delivered.
func TestLog_StartUpAndManualInvalidationsAreLogged(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	ctx := reqctx.NewContextWithSystem(context.Background())
	boot := g.DB.Client.AccessChange.Query().Where(accesschange.Operation("bootstrapAdmin")).OnlyX(ctx)
	assert.Equal(t, []int{g.Admin.ID}, boot.Users)
	assert.Nil(t, boot.ActorID, "the gateway itself")
	assert.NotNil(t, boot.DeliveredAt)
	before := g.DB.Client.AccessChange.Query().CountX(ctx)
	testenv.NewGateway(t, testenv.Options{DatabaseURL: g.DatabaseURL, Prefix: g.Prefix()})
	assert.Equal(t, before, g.DB.Client.AccessChange.Query().CountX(ctx),
		"a start with an admin in place writes nothing (each start used to log 'no grant')")

	u := testenv.NewWorld(t, g.DB.Client).User("manual@test.example")
	require.NoError(t, g.Authz.InvalidateUserCache(testenv.AsUser(g.Admin.ID), u))
	require.NoError(t, g.Authz.InvalidateAllCaches(testenv.AsUser(g.Admin.ID)))
	entries := g.DB.Client.AccessChange.Query().Order(ent.Asc(accesschange.FieldID)).AllX(ctx)
	last := entries[len(entries)-2:]
	assert.Equal(t, "invalidateUserCache", last[0].Operation)
	assert.Equal(t, []int{u}, last[0].Users)
	assert.Equal(t, g.Admin.ID, *last[0].ActorID)
	assert.Equal(t, "invalidateAllCaches", last[1].Operation)
	assert.True(t, last[1].All)
	for _, e := range last {
		assert.NotNil(t, e.DeliveredAt, e.Operation)
	}
}

// AUDIT_RETENTION prunes delivered entries older than it, with the users
// they recorded; newer ones stay.
func TestLog_RetentionPrunesOldDeliveredEntries(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	ctx := reqctx.NewContextWithSystem(context.Background())
	old := time.Now().Add(-100 * 24 * time.Hour)
	c := g.DB.Client
	stale := c.AccessChange.Create().SetOperation("old").SetTarget("t").SetUsers([]int{g.Admin.ID}).
		SetPrograms([]int{}).SetProjects([]int{}).SetCreatedAt(old).SetDeliveredAt(old).SaveX(ctx)
	c.AccessChangeUser.Create().SetChangeID(stale.ID).SetUserID(g.Admin.ID).ExecX(ctx)

	// A start prunes (and then every hour).
	testenv.NewGateway(t, testenv.Options{DatabaseURL: g.DatabaseURL, Prefix: g.Prefix(), AuditRetention: 90 * 24 * time.Hour})
	require.Eventually(t, func() bool {
		return !c.AccessChange.Query().Where(accesschange.ID(stale.ID)).ExistX(ctx)
	}, 5*time.Second, 20*time.Millisecond, "the old delivered entry is pruned")
	assert.Zero(t, c.AccessChangeUser.Query().Where(accesschangeuser.ChangeID(stale.ID)).CountX(ctx), "with its users")
	assert.True(t, c.AccessChange.Query().Where(accesschange.Operation("bootstrapAdmin")).ExistX(ctx), "recent entries stay")
}

// TestLog_NoDeliveryMovesARolledBackStoreOverItsGap: issue 32, finding 2.
// Redis came back from a snapshot (its applied position behind the log)
// while every L1 was warm, so nobody read it; the next write's delivery
// raised the position straight over the gap, and from then on the
// snapshot's answers were trusted, one of them older than a revoke. A
// delivery now moves a store's position only from the floor it knows was
// delivered: the rolled-back store stays behind, and no instance, a new
// one included, serves the snapshot's answer.
func TestLog_NoDeliveryMovesARolledBackStoreOverItsGap(t *testing.T) {
	redisServer := testenv.StartRedis(t)
	one := testenv.NewGateway(t, testenv.Options{RedisAddr: redisServer.Addr})
	two := testenv.NewGateway(t, testenv.Options{DatabaseURL: one.DatabaseURL, RedisAddr: redisServer.Addr})
	gw := newGrantWatch(t, one)
	other := testenv.NewWorld(t, one.DB.Client).User("bystander@test.example")
	require.True(t, gw.shows(t, one))
	require.True(t, gw.shows(t, two)) // cached in Redis and in both L1s

	require.NoError(t, one.Redis.Save(context.Background()).Err())
	_, err := one.Authz.SetScopeActive(testenv.AsUser(one.Admin.ID), gw.scope, false)
	require.NoError(t, err)
	require.False(t, gw.shows(t, one))
	require.False(t, gw.shows(t, two))

	redisServer.Restart(t) // the snapshot: the grant, and an applied position behind the log
	// Another user's change, delivered through the rolled-back store while
	// the L1s are warm.
	require.NoError(t, one.Authz.InvalidateUserCache(testenv.AsUser(one.Admin.ID), other))

	three := testenv.NewGateway(t, testenv.Options{DatabaseURL: one.DatabaseURL, RedisAddr: redisServer.Addr})
	stale, reads := gw.staleReads(t, 500*time.Millisecond, one, two, three)
	t.Logf("%d of %d reads after the rollback and the next delivery showed the revoked grant", stale, reads)
	assert.Zero(t, stale)
}

// TestLog_AWriterCutOffFromRedisReturnsOnlyOnceOthersSeeIt: issue 32,
// finding 1. A writer whose link to Redis was cut committed a revoke,
// failed to deliver it and returned; for up to the grace (~250 ms) the
// other instance, its L1 suspended by the undelivered entry, read Redis's
// un-invalidated value. Now the writer says its delivery failed, another
// instance delivers at once, and the write returns only after that: no
// read that starts after it returns shows the grant.
func TestLog_AWriterCutOffFromRedisReturnsOnlyOnceOthersSeeIt(t *testing.T) {
	redisServer := testenv.StartRedis(t)
	link := testenv.StartProxy(t, redisServer.Addr)
	writer := testenv.NewGateway(t, testenv.Options{RedisAddr: link.Addr})
	reader := testenv.NewGateway(t, testenv.Options{DatabaseURL: writer.DatabaseURL, RedisAddr: redisServer.Addr})
	gw := newGrantWatch(t, writer)
	require.True(t, gw.shows(t, writer))
	require.True(t, gw.shows(t, reader)) // in Redis and in the reader's L1

	link.Blackhole()
	_, err := writer.Authz.SetScopeActive(testenv.AsUser(writer.Admin.ID), gw.scope, false)
	require.NoError(t, err, "the revoke commits; its delivery fails")
	stale, reads := gw.staleReads(t, 600*time.Millisecond, reader)
	t.Logf("%d of %d reads on the other instance after the write returned showed the revoked grant", stale, reads)
	assert.Zero(t, stale)
}

// projectIDs is user's accessible projects as src serves them.
func projectIDs(src *answers.Source, user int) ([]int, error) {
	key := answers.Key{Kind: answers.KindAccessibleProjects, UserID: user}
	got, err := src.Answers(context.Background(), []answers.Key{key})
	return got[key].IDs, err
}
