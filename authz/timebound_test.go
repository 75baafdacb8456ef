package authz_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"authz-gateway/access"
	"authz-gateway/apperr"
	"authz-gateway/authz"
	"authz-gateway/ent"
	"authz-gateway/ent/accesschange"
	"authz-gateway/internal/testenv"
	"authz-gateway/reqctx"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// timedRead is one read of a contractor's access: when it started and what
// it answered for the project of the ending scope and the project of the
// permanent scope (which the ending role alone lets them read).
type timedRead struct {
	start             time.Time
	scoped, roleBound bool
}

// Two instances share the database and Redis, each with its L1 (or none),
// refresh-ahead and warming as in production. A contractor gets a VIEWER
// role that ends in 4 s and a PROJECT scope that ends in 3 s (plus a
// permanent scope elsewhere). Readers on both instances ask, through the
// checks and the cached lists, from before the grants to after their ends:
// the grants show before their ends, and no read that started after an end
// shows what ended (SpiceDB shipped both ways to get this wrong: a path that
// skipped the expiry filter, and cache reads that extended entries). Each
// end is logged once ("expire"), however many instances watch, and pushed
// to accessChanged's watchers.
func TestTimeBound_NoTierServesAGrantPastItsEnd(t *testing.T) {
	testenv.Slow(t, "readers across grants' ends")
	for _, tc := range []struct {
		name string
		opts testenv.Options
	}{
		{"l1 and redis", testenv.Options{}},
		{"redis only", testenv.Options{NoL1: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			one := testenv.NewGateway(t, tc.opts)
			second := tc.opts
			second.DatabaseURL, second.Prefix = one.DatabaseURL, one.Prefix()
			two := testenv.NewGateway(t, second)
			w := testenv.NewWorld(t, one.DB.Client)
			c := newCatalog(w)
			u := w.User("contractor@test.example")
			w.InProject(u, c.a1) // permanent: the role alone decides a1
			admin := testenv.AsUser(one.Admin.ID)
			instances := []*testenv.Gateway{one, two}

			read := func(g *testenv.Gateway) (timedRead, error) {
				svc := g.Authz
				r := timedRead{start: time.Now()}
				got, err := svc.CheckAccess(admin, []authz.Check{
					{UserID: u, Permission: access.ProjectRead, On: c.b1},
					{UserID: u, Permission: access.ProjectRead, On: c.a1},
				})
				if err != nil {
					return r, err
				}
				ids, err := projectIDs(g.Answers, u)
				if err != nil {
					return r, err
				}
				listed := false
				for _, id := range ids {
					listed = listed || id == c.b1
				}
				// Both paths must agree: a list showing b1 is a grant shown.
				r.scoped, r.roleBound = got[0] || listed, got[1]
				return r, nil
			}
			var mu sync.Mutex
			var reads []timedRead
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for _, g := range instances {
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
							r, err := read(g)
							if err != nil {
								t.Error(err)
								return
							}
							mu.Lock()
							reads = append(reads, r)
							mu.Unlock()
							time.Sleep(time.Millisecond)
						}
					}()
				}
			}

			time.Sleep(200 * time.Millisecond) // reads before the grants
			scopeEnd := time.Now().Add(3 * time.Second)
			roleEnd := scopeEnd.Add(time.Second)
			_, err := one.Authz.AssignRole(admin, u, access.RoleViewer, &roleEnd)
			require.NoError(t, err)
			_, err = one.Authz.AssignScope(admin, authz.ScopeInput{UserID: u, ScopeType: access.ScopeProject, ProjectID: &c.b1, ExpiresAt: &scopeEnd})
			require.NoError(t, err)
			who, err := two.Authz.Accessors(admin, access.ProjectRead, c.b1, 100, nil)
			require.NoError(t, err)
			assert.True(t, slices.ContainsFunc(who.Edges, func(e *ent.UserEdge) bool { return e.Node.ID == u }),
				"accessors list the contractor before the end")
			signals, stopWatch := two.App.Log().WatchUser(u)
			defer stopWatch()

			// accessChanged is pushed at the scope's end, from either instance.
			drain(signals)
			time.Sleep(time.Until(scopeEnd) - 100*time.Millisecond)
			drain(signals)
			select {
			case <-signals:
				assert.WithinDuration(t, scopeEnd, time.Now(), 1500*time.Millisecond, "pushed at the end")
			case <-time.After(time.Until(scopeEnd) + 2*time.Second):
				t.Error("no change pushed at the scope's end")
			}

			time.Sleep(time.Until(roleEnd) + time.Second)
			close(stop)
			wg.Wait()

			var beforeScope, beforeRole, afterScope, afterRole, staleScope, staleRole int
			for _, r := range reads {
				switch {
				case r.start.After(scopeEnd):
					afterScope++
					if r.scoped {
						staleScope++
					}
				case r.scoped:
					beforeScope++
				}
				switch {
				case r.start.After(roleEnd):
					afterRole++
					if r.roleBound {
						staleRole++
					}
				case r.roleBound:
					beforeRole++
				}
			}
			t.Logf("%d reads: the scope shown %d times before its end, %d of %d reads after it; the role %d before, %d of %d after",
				len(reads), beforeScope, staleScope, afterScope, beforeRole, staleRole, afterRole)
			assert.Positive(t, beforeScope)
			assert.Positive(t, beforeRole)
			assert.Greater(t, afterScope, 100, "hundreds of reads after the end")
			assert.Greater(t, afterRole, 100)
			assert.Zero(t, staleScope, "reads after the scope's end that showed it")
			assert.Zero(t, staleRole, "reads after the role's end that showed it")

			// One "expire" entry per end, with two instances watching.
			ctx := reqctx.NewContextWithSystem(context.Background())
			require.Eventually(t, func() bool {
				return one.DB.Client.AccessChange.Query().Where(accesschange.Operation("expire")).CountX(ctx) >= 2
			}, 3*time.Second, 20*time.Millisecond)
			time.Sleep(300 * time.Millisecond)
			entries := one.DB.Client.AccessChange.Query().Where(accesschange.Operation("expire")).AllX(ctx)
			require.Len(t, entries, 2, "each end logged once")
			for _, e := range entries {
				assert.Nil(t, e.ActorID, "the system ends it, no one's write")
				assert.Equal(t, []int{u}, e.Users)
				assert.NotNil(t, e.DeliveredAt)
			}
			ex, err := one.Authz.ExplainAccess(admin, authz.Check{UserID: u, Permission: access.ProjectRead, On: c.b1})
			require.NoError(t, err)
			assert.False(t, ex.Allowed)
			assert.Empty(t, ex.Scopes, "explainAccess lists no ended scope")
			assert.Empty(t, ex.Roles, "nor the ended role")
			for _, on := range []int{c.b1, c.a1} {
				who, err := one.Authz.Accessors(admin, access.ProjectRead, on, 100, nil)
				require.NoError(t, err)
				for _, e := range who.Edges {
					assert.NotEqual(t, u, e.Node.ID, "accessors of %d list the contractor after the ends", on)
				}
			}
		})
	}
}

// Assigning again sets the end anew: later (extended), or none.
func TestTimeBound_AssigningAgainExtendsOrRemovesTheEnd(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	w := testenv.NewWorld(t, g.DB.Client)
	c := newCatalog(w)
	u := w.User("reviewer@test.example")
	w.Role(u, access.RoleViewer)
	admin := testenv.AsUser(g.Admin.ID)
	can := func() bool {
		got, err := g.Authz.CheckAccess(admin, []authz.Check{{UserID: u, Permission: access.ProjectRead, On: c.b1}})
		require.NoError(t, err)
		return got[0]
	}

	past := time.Now().Add(-time.Minute)
	_, err := g.Authz.AssignScope(admin, authz.ScopeInput{UserID: u, ScopeType: access.ScopeProject, ProjectID: &c.b1, ExpiresAt: &past})
	assert.Equal(t, apperr.BadUserInput, apperr.CodeOf(err), "an end in the past")

	soon := time.Now().Add(time.Second)
	sa, err := g.Authz.AssignScope(admin, authz.ScopeInput{UserID: u, ScopeType: access.ScopeProject, ProjectID: &c.b1, ExpiresAt: &soon})
	require.NoError(t, err)
	require.True(t, can())
	later := time.Now().Add(time.Hour)
	extended, err := g.Authz.AssignScope(admin, authz.ScopeInput{UserID: u, ScopeType: access.ScopeProject, ProjectID: &c.b1, ExpiresAt: &later})
	require.NoError(t, err)
	assert.Equal(t, sa.ID, extended.ID, "the same assignment")
	require.NotNil(t, extended.ExpiresAt)
	assert.WithinDuration(t, later, *extended.ExpiresAt, time.Millisecond)

	time.Sleep(time.Until(soon) + 300*time.Millisecond)
	assert.True(t, can(), "the first end no longer applies")
	ctx := reqctx.NewContextWithSystem(context.Background())
	assert.Zero(t, g.DB.Client.AccessChange.Query().Where(accesschange.Operation("expire")).CountX(ctx), "nothing ended")

	removed, err := g.Authz.AssignScope(admin, authz.ScopeInput{UserID: u, ScopeType: access.ScopeProject, ProjectID: &c.b1})
	require.NoError(t, err)
	assert.Nil(t, removed.ExpiresAt, "no end any more")
	assert.True(t, can())

	// Activating an ended assignment does not revive it; assigning does.
	soon = time.Now().Add(500 * time.Millisecond)
	_, err = g.Authz.AssignScope(admin, authz.ScopeInput{UserID: u, ScopeType: access.ScopeProject, ProjectID: &c.b1, ExpiresAt: &soon})
	require.NoError(t, err)
	time.Sleep(time.Until(soon) + 50*time.Millisecond)
	require.False(t, can(), "ended")
	_, err = g.Authz.SetScopeActive(admin, sa.ID, true)
	require.NoError(t, err)
	assert.False(t, can(), "activating does not revive it")
	_, err = g.Authz.AssignScope(admin, authz.ScopeInput{UserID: u, ScopeType: access.ScopeProject, ProjectID: &c.b1})
	require.NoError(t, err)
	assert.True(t, can(), "assigning again does")
}

// The last admin cannot be made to lapse: an end on the only admin's ADMIN
// role or GLOBAL scope would leave no admin once it came.
func TestTimeBound_TheLastAdminCannotLapse(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	admin := testenv.AsUser(g.Admin.ID)
	end := time.Now().Add(time.Hour)
	_, err := g.Authz.AssignRole(admin, g.Admin.ID, access.RoleAdmin, &end)
	assert.Equal(t, apperr.Forbidden, apperr.CodeOf(err))
	_, err = g.Authz.AssignScope(admin, authz.ScopeInput{UserID: g.Admin.ID, ScopeType: access.ScopeGlobal, ExpiresAt: &end})
	assert.Equal(t, apperr.Forbidden, apperr.CodeOf(err))
}

func drain(ch <-chan struct{}) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}
