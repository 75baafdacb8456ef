package authz_test

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"authz-gateway/access"
	"authz-gateway/authz"
	"authz-gateway/cache"
	"authz-gateway/internal/testenv"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pauser holds one reader between its database read and its cache fill.
type pauser struct {
	armed  atomic.Bool
	paused chan struct{}
	resume chan struct{}
}

func newPauser() *pauser {
	return &pauser{paused: make(chan struct{}), resume: make(chan struct{})}
}

func (p *pauser) hook(_ context.Context, keys []cache.Key) {
	if p.armed.CompareAndSwap(true, false) {
		close(p.paused)
		<-p.resume
	}
}

// TestStaleFill_Deterministic replays the race that a delete-on-invalidate
// cache loses: a reader computes from the database, a revoke commits and
// invalidates, then the reader stores its now-stale answer.
func TestStaleFill_Deterministic(t *testing.T) {
	pause := newPauser()
	one := testenv.NewGateway(t, testenv.Options{Cache: cache.Config{BeforeFill: pause.hook}})
	two := testenv.NewGateway(t, testenv.Options{DatabaseURL: one.DatabaseURL, Prefix: one.Prefix()})
	w := testenv.NewWorld(t, one.DB.Client)
	c := newCatalog(w)
	u := w.User("racer@test.example")
	scope := w.InProgram(u, c.A)
	admin := testenv.AsUser(one.Admin.ID)

	pause.armed.Store(true)
	stale := make(chan []int)
	go func() {
		ids, err := projectIDs(one.Answers, u)
		assert.NoError(t, err)
		stale <- ids
	}()
	<-pause.paused // the reader has read the grant from the database

	_, err := one.Authz.SetScopeActive(admin, scope, false)
	require.NoError(t, err) // committed and invalidated: the mutation has returned

	close(pause.resume) // the reader now writes its old answer
	assert.Equal(t, []int{c.a1, c.a2}, <-stale, "the reader that started before the revoke saw the grant")

	for name, g := range map[string]*testenv.Gateway{"same instance": one, "second instance": two} {
		ids, err := projectIDs(g.Answers, u)
		require.NoError(t, err)
		assert.Empty(t, ids, "%s: the late fill is never served", name)
	}
}

// TestStaleFill_Randomized: readers hammer two instances while a writer grants
// and revokes. A read that starts after a revoke has returned, and ends before
// the next grant starts, must never show the grant.
func TestStaleFill_Randomized(t *testing.T) {
	testenv.Slow(t, "a randomized schedule")
	one := testenv.NewGateway(t, testenv.Options{})
	two := testenv.NewGateway(t, testenv.Options{DatabaseURL: one.DatabaseURL, Prefix: one.Prefix()})
	w := testenv.NewWorld(t, one.DB.Client)
	c := newCatalog(w)
	u := w.User("hammered@test.example")
	admin := testenv.AsUser(one.Admin.ID)
	scope, err := one.Authz.AssignScope(admin, authz.ScopeInput{UserID: u, ScopeType: access.ScopeProject, ProjectID: &c.b1})
	require.NoError(t, err)

	var revoked atomic.Bool // set only between a revoke's return and the next grant
	var grants atomic.Int64 // grants started
	var stop atomic.Bool
	var reads, inWindow, violations atomic.Int64
	var wg sync.WaitGroup
	for i := range 6 {
		g := []*testenv.Gateway{one, two}[i%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				grantsBefore := grants.Load()
				afterRevoke := revoked.Load()
				ids, err := projectIDs(g.Answers, u)
				if !assert.NoError(t, err) {
					return
				}
				reads.Add(1)
				if !afterRevoke || grants.Load() != grantsBefore {
					continue // not inside a revoke-to-grant window: either answer is right
				}
				inWindow.Add(1)
				if slices.Contains(ids, c.b1) {
					violations.Add(1)
				}
			}
		}()
	}
	for range 40 {
		time.Sleep(2 * time.Millisecond)
		_, err := one.Authz.SetScopeActive(admin, scope.ID, false)
		require.NoError(t, err)
		revoked.Store(true)
		time.Sleep(3 * time.Millisecond)
		revoked.Store(false)
		grants.Add(1)
		_, err = two.Authz.SetScopeActive(admin, scope.ID, true)
		require.NoError(t, err)
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("%d reads, %d inside a revoke-to-grant window", reads.Load(), inWindow.Load())
	assert.Positive(t, inWindow.Load(), "some reads must fall in the window the test guards")
	assert.Zero(t, violations.Load(), "reads after a revoke returned showed the revoked grant")
}
