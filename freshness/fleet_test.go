package freshness_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"authz-gateway/freshness"
	"authz-gateway/internal/testenv"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// heldInL1 reports whether a read of gw's user on g was answered by g's L1
// alone (no Redis round trip, an L1 hit). Nothing else may read on g
// meanwhile.
func heldInL1(t *testing.T, g *testenv.Gateway, gw grantWatch) bool {
	t.Helper()
	hits := g.Cache.LocalStats().Hits
	g.Trips.Reset()
	gw.shows(t, g)
	return g.Trips.Trips() == 0 && g.Cache.LocalStats().Hits > hits
}

// Two instances with L1s: the other instance holds the grant in memory when
// the revoke is written, and readers on it never see an answer older than
// the last write that returned. Every round checks that the value was in
// the L1 (so the test exercises the drop, not a miss).
func TestL1_RevokeWhileTheOtherHoldsTheValueInMemory(t *testing.T) {
	one := testenv.NewGateway(t, testenv.Options{})
	two := testenv.NewGateway(t, testenv.Options{DatabaseURL: one.DatabaseURL, Prefix: one.Prefix()})
	gw := newGrantWatch(t, one)
	admin := testenv.AsUser(one.Admin.ID)

	// Writes alternate revoke, grant, revoke... started and returned count
	// them. A read during which no write was in flight (none started that
	// had not returned before the read began) must show the state after the
	// last returned write: granted when their count is even. Reads that
	// overlap a write may show either state.
	var started, returned atomic.Int64
	var stale, reads atomic.Int64
	// The readers hold gate's read side while they read, so that heldInL1
	// (under the write side) counts only its own read.
	var gate sync.RWMutex
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				before := returned.Load()
				gate.RLock()
				ids, err := projectIDs(two.Answers, gw.user)
				gate.RUnlock()
				if !assert.NoError(t, err) {
					return
				}
				if started.Load() != before {
					continue // a write was in flight
				}
				reads.Add(1)
				if slices.Contains(ids, gw.project) != (before%2 == 0) {
					stale.Add(1)
				}
			}
		}()
	}

	const rounds = 20
	inMemory := 0
	for range rounds {
		require.True(t, gw.shows(t, two))
		gate.Lock()
		if heldInL1(t, two, gw) {
			inMemory++
		}
		gate.Unlock()
		started.Add(1)
		_, err := one.Authz.SetScopeActive(admin, gw.scope, false)
		require.NoError(t, err)
		returned.Add(1)
		assert.False(t, gw.shows(t, two), "revoked on two as soon as the write returned")

		require.False(t, gw.shows(t, two))
		started.Add(1)
		_, err = one.Authz.SetScopeActive(admin, gw.scope, true)
		require.NoError(t, err)
		returned.Add(1)
		assert.True(t, gw.shows(t, two), "granted on two as soon as the write returned")
	}
	close(stop)
	wg.Wait()
	t.Logf("%d of %d concurrent reads on the other instance (between writes) were stale; the grant was in its L1 before %d of %d revokes",
		stale.Load(), reads.Load(), inMemory, rounds)
	assert.Zero(t, stale.Load())
	assert.Positive(t, reads.Load())
	assert.Equal(t, rounds, inMemory, "the other instance held the grant in memory before every revoke")
}

// An instance that stops confirming (stalled, partitioned from the
// database) is fenced by its lease: the write waits for the lease to run
// out, not forever, and by then the silent instance no longer answers from
// memory.
func TestL1_SilentInstanceIsFencedByItsLease(t *testing.T) {
	sp := newSilentPair(t)
	one, two, gw := sp.one, sp.two, sp.gw
	admin := testenv.AsUser(one.Admin.ID)
	sp.silence()
	require.True(t, heldInL1(t, two, gw), "its lease still holds for now")
	before := fencedWrites(t, one)
	_, err := one.Authz.SetScopeActive(admin, gw.scope, false)
	require.NoError(t, err)
	assert.False(t, gw.shows(t, two), "once the write returned, two no longer answers from memory")
	assert.False(t, two.Cache.LocalStats().Leased)
	assert.Equal(t, before+1, fencedWrites(t, one), "the write stopped waiting for two because its lease ran out")

	sp.silent.Store(false)
	require.Eventually(t, func() bool { return two.Cache.LocalStats().Leased }, 5*time.Second, 10*time.Millisecond,
		"two confirms again and its L1 answers again")
	assert.False(t, gw.shows(t, two))
	assert.True(t, heldInL1(t, two, gw), "from memory, and fresh")
}

// Issue 17, finding 9: a request deadline shorter than the lease (or a
// client hanging up) does not cut the wait short. The write commits within
// the deadline, then waits out two's lease all the same.
func TestL1_TheWaitIsBoundedByTheLeaseAlone(t *testing.T) {
	sp := newSilentPair(t)
	sp.silence()
	ctx, cancel := context.WithTimeout(testenv.AsUser(sp.one.Admin.ID), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := sp.one.Authz.SetScopeActive(ctx, sp.gw.scope, false)
	require.NoError(t, err)
	assert.Greater(t, time.Since(start), 300*time.Millisecond, "the deadline passed during the wait")
	assert.False(t, sp.gw.shows(t, sp.two), "once the write returned, two no longer answers the old grant")
}

// silentPair: two instances, a grant held in two's L1, and a switch that
// makes two stop confirming (it keeps its lease until it runs out).
type silentPair struct {
	one, two *testenv.Gateway
	gw       grantWatch
	silent   *atomic.Bool
	paused   chan struct{}
}

func newSilentPair(t *testing.T) silentPair {
	sp := silentPair{silent: &atomic.Bool{}, paused: make(chan struct{}, 1)}
	sp.one = testenv.NewGateway(t, testenv.Options{})
	sp.two = testenv.NewGateway(t, testenv.Options{
		DatabaseURL: sp.one.DatabaseURL, Prefix: sp.one.Prefix(),
		FleetPause: func(ctx context.Context) {
			for sp.silent.Load() && ctx.Err() == nil {
				select {
				case sp.paused <- struct{}{}:
				default:
				}
				time.Sleep(5 * time.Millisecond)
			}
		},
	})
	sp.gw = newGrantWatch(t, sp.one)
	require.True(t, sp.gw.shows(t, sp.two))
	require.True(t, heldInL1(t, sp.two, sp.gw), "the grant is in two's memory")
	return sp
}

// silence makes two stop confirming, and returns once it has.
func (sp silentPair) silence() {
	sp.silent.Store(true)
	<-sp.paused
}

// An idle member of the fleet costs the database about one statement a
// second: its renewal, which also stands in for the log watcher's poll, and
// every few seconds the expiry watcher's look for the next end. It was 16
// a second (renewals of two statements eight times a second, the watcher's
// poll of five, the expiry watcher's three), which a fleet of a hundred
// multiplies.
func TestFleet_IdleInstanceCostsAboutOneStatementPerSecond(t *testing.T) {
	testenv.Slow(t, "an idle fleet, measured over seconds")
	g := testenv.NewGateway(t, testenv.Options{})
	time.Sleep(time.Second) // start-up's work settles
	g.SQL.Reset()
	const idle = 4 * time.Second
	time.Sleep(idle)
	background := g.SQL.Background()
	assert.LessOrEqual(t, len(background), 7, "in %s idle: a renewal a second and at most one expiry poll", idle)
	assert.GreaterOrEqual(t, len(background), 3, "the lease is renewed while idle")
	assert.Empty(t, g.SQL.Statements(), "no other statement while idle")
}

// A confirmation is not announced to everyone: on the log's channel, which
// every instance hears, a write sends three notifications whatever the
// fleet's size (committed, delivered, confirm-please), and the idle fleet's
// renewals send none. (Each confirmation used to be announced there: with
// N instances, N deliveries to each of N listeners per write, and again at
// every renewal.) The writer still returns only once the others dropped
// the change.
func TestFleet_ConfirmationsAreNotBroadcast(t *testing.T) {
	one := testenv.NewGateway(t, testenv.Options{})
	others := []*testenv.Gateway{
		testenv.NewGateway(t, testenv.Options{DatabaseURL: one.DatabaseURL, Prefix: one.Prefix()}),
		testenv.NewGateway(t, testenv.Options{DatabaseURL: one.DatabaseURL, Prefix: one.Prefix()}),
	}
	gw := newGrantWatch(t, one)
	for _, g := range others {
		require.True(t, gw.shows(t, g))
		require.True(t, heldInL1(t, g, gw), "the grant is in the other instance's memory")
	}
	notes := testenv.ListenAll(t, one.DatabaseURL, freshness.NotifyChannel)
	time.Sleep(1500 * time.Millisecond) // more than a renewal of each
	assert.Empty(t, notes.Take(), "idle renewals notify nobody")

	_, err := one.Authz.SetScopeActive(testenv.AsUser(one.Admin.ID), gw.scope, false)
	require.NoError(t, err)
	for _, g := range others {
		assert.False(t, gw.shows(t, g), "revoked on every instance once the write returned")
	}
	time.Sleep(300 * time.Millisecond)
	var kinds []string
	for _, n := range notes.Take() {
		kind, _, _ := strings.Cut(n, ":")
		kinds = append(kinds, kind)
	}
	slices.Sort(kinds)
	assert.Equal(t, []string{"c", "d", "w"}, kinds, "one write: committed, delivered, asked to confirm")
}

// fencedWrites reads authz_write_ack_fenced_total from g's /metrics.
func fencedWrites(t *testing.T, g *testenv.Gateway) int {
	return int(g.MustMetric(t, "authz_write_ack_fenced_total"))
}
