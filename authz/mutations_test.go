package authz_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"authz-gateway/access"
	"authz-gateway/answers"
	"authz-gateway/apperr"
	"authz-gateway/authz"
	"authz-gateway/ent"
	"authz-gateway/ent/accesschange"
	"authz-gateway/ent/accesschangeuser"
	"authz-gateway/ent/roleassignment"
	"authz-gateway/internal/testenv"
	"authz-gateway/reqctx"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pair is two gateway instances over one database and one Redis keyspace.
type pair struct {
	one, two *testenv.Gateway
	w        *testenv.World
	c        catalog
	admin    context.Context
}

func newPair(t *testing.T) *pair {
	one := testenv.NewGateway(t, testenv.Options{})
	two := testenv.NewGateway(t, testenv.Options{DatabaseURL: one.DatabaseURL, Prefix: one.Prefix()})
	w := testenv.NewWorld(t, one.DB.Client)
	return &pair{one: one, two: two, w: w, c: newCatalog(w), admin: testenv.AsUser(one.Admin.ID)}
}

// warm reads users' answers on both instances so the next read is a hit
// unless something invalidated it.
func (p *pair) warm(t *testing.T, users ...int) {
	t.Helper()
	for _, g := range []*testenv.Gateway{p.one, p.two} {
		for _, u := range users {
			_, err := g.Authz.Reach(context.Background(), u)
			require.NoError(t, err)
		}
	}
}

// expect asserts what both instances answer for user now.
func (p *pair) expect(t *testing.T, user int, check func(t *testing.T, r access.Reach)) {
	t.Helper()
	for name, g := range map[string]*testenv.Gateway{"same instance": p.one, "second instance": p.two} {
		r, err := g.Authz.Reach(context.Background(), user)
		require.NoError(t, err)
		t.Run(name, func(t *testing.T) { check(t, r) })
	}
}

// expectCounts asserts the user's summary counts on both instances.
func (p *pair) expectCounts(t *testing.T, user, programs, projects int) {
	t.Helper()
	for name, g := range map[string]*testenv.Gateway{"same instance": p.one, "second instance": p.two} {
		sum := summaryOf(t, g, user)
		assert.Equal(t, programs, sum.AccessibleProgramCount, "%s: programs", name)
		assert.Equal(t, projects, sum.AccessibleProjectCount, "%s: projects", name)
	}
}

func can(p access.Permission) func(*testing.T, access.Reach) {
	return func(t *testing.T, r access.Reach) { assert.True(t, r.Can(p), "%v", r.Permissions) }
}

func cannot(p access.Permission) func(*testing.T, access.Reach) {
	return func(t *testing.T, r access.Reach) { assert.False(t, r.Can(p), "%v", r.Permissions) }
}

func projects(ids ...int) func(*testing.T, access.Reach) {
	return func(t *testing.T, r access.Reach) {
		if ids == nil {
			ids = []int{}
		}
		assert.Equal(t, ids, r.Projects)
	}
}

func programs(ids ...int) func(*testing.T, access.Reach) {
	return func(t *testing.T, r access.Reach) {
		if ids == nil {
			ids = []int{}
		}
		assert.Equal(t, ids, r.Programs)
	}
}

func TestMutations_RolesAreVisibleEverywhereAtOnce(t *testing.T) {
	p := newPair(t)
	svc := p.one.Authz
	u := p.w.User("roles@test.example")
	step := func(name string, mutate func() error, check func(*testing.T, access.Reach)) {
		t.Run(name, func(t *testing.T) {
			p.warm(t, u)
			require.NoError(t, mutate())
			p.expect(t, u, check)
		})
	}
	step("assignRole", func() error { _, err := svc.AssignRole(p.admin, u, access.RoleViewer, nil); return err }, can(access.ProjectRead))
	step("deactivateRole", func() error { _, err := svc.SetRoleActive(p.admin, u, access.RoleViewer, false); return err }, cannot(access.ProjectRead))
	step("activateRole", func() error { _, err := svc.SetRoleActive(p.admin, u, access.RoleViewer, true); return err }, can(access.ProjectRead))
	step("setRolePermissions", func() error {
		_, err := svc.SetRolePermissions(p.admin, access.RoleViewer, []access.Permission{access.ProgramRead, access.UserRead})
		return err
	}, func(t *testing.T, r access.Reach) {
		assert.Equal(t, []access.Permission{access.ProgramRead, access.UserRead}, r.Permissions)
	})
	step("removeRole", func() error { _, err := svc.RemoveRole(p.admin, u, access.RoleViewer); return err }, cannot(access.ProgramRead))
}

func TestMutations_ScopesAreVisibleEverywhereAtOnce(t *testing.T) {
	p := newPair(t)
	svc, c := p.one.Authz, p.c
	u, v := p.w.User("scopes@test.example"), p.w.User("other@test.example")
	var scope *ent.ScopeAssignment
	step := func(name string, mutate func() error, user int, check func(*testing.T, access.Reach)) {
		t.Run(name, func(t *testing.T) {
			p.warm(t, u, v)
			require.NoError(t, mutate())
			p.expect(t, user, check)
		})
	}
	step("assignScope", func() (err error) {
		scope, err = svc.AssignScope(p.admin, authz.ScopeInput{UserID: u, ScopeType: access.ScopeProgram, ProgramID: &c.A})
		return err
	}, u, projects(c.a1, c.a2))
	step("deactivateScope", func() error { _, err := svc.SetScopeActive(p.admin, scope.ID, false); return err }, u, projects())
	step("activateScope", func() error { _, err := svc.SetScopeActive(p.admin, scope.ID, true); return err }, u, projects(c.a1, c.a2))
	step("removeScope", func() error { _, err := svc.RemoveScope(p.admin, scope.ID); return err }, u, programs())
	step("bulkAssignScopes", func() error {
		_, err := svc.BulkAssignScopes(p.admin, []authz.ScopeInput{
			{UserID: u, ScopeType: access.ScopeProgram, ProgramID: &c.B},
			{UserID: v, ScopeType: access.ScopeProject, ProjectID: &c.c1},
		})
		return err
	}, u, projects(c.b1))
	t.Run("bulkAssignScopes second user", func(t *testing.T) { p.expect(t, v, programs(c.C)) })

	t.Run("bulkAssignScopes is all or nothing", func(t *testing.T) {
		p.warm(t, u, v)
		_, err := svc.BulkAssignScopes(p.admin, []authz.ScopeInput{
			{UserID: v, ScopeType: access.ScopeProgram, ProgramID: &c.A},
			{UserID: u, ScopeType: access.ScopeProject, ProgramID: &c.A}, // invalid shape
		})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "inputs[1]")
		p.expect(t, v, programs(c.C))
		_, err = svc.BulkAssignScopes(p.admin, []authz.ScopeInput{
			{UserID: v, ScopeType: access.ScopeProgram, ProgramID: &c.A},
			{UserID: 999999, ScopeType: access.ScopeGlobal}, // unknown user, found inside the transaction
		})
		require.Error(t, err)
		p.expect(t, v, programs(c.C))
	})
}

func TestMutations_CatalogChangesReachExactlyTheAffectedUsers(t *testing.T) {
	p := newPair(t)
	svc, c, w := p.one.Authz, p.c, p.w
	global, inA, inB, ina1, bystander := w.User("g@test.example"), w.User("a@test.example"),
		w.User("b@test.example"), w.User("a1@test.example"), w.User("c@test.example")
	w.Global(global)
	w.InProgram(inA, c.A)
	w.InProgram(inB, c.B)
	w.InProject(ina1, c.a1)
	w.InProgram(bystander, c.C)
	everyone := []int{global, inA, inB, ina1, bystander}

	var newProject, newProgram int
	t.Run("createProject", func(t *testing.T) {
		p.warm(t, everyone...)
		pr, err := svc.CreateProject(p.admin, ent.CreateProjectInput{Name: "a3", ProgramID: c.A})
		require.NoError(t, err)
		newProject = pr.ID
		p.expect(t, inA, projects(c.a1, c.a2, newProject))
		p.expectCounts(t, global, 3, 5) // GLOBAL answers "all"; its counts grow
		p.expect(t, bystander, projects(c.c1))
	})
	t.Run("updateProject moves it", func(t *testing.T) {
		p.warm(t, everyone...)
		_, err := svc.UpdateProject(p.admin, c.a1, ent.UpdateProjectInput{ProgramID: &c.B})
		require.NoError(t, err)
		p.expect(t, inA, projects(c.a2, newProject))
		p.expect(t, inB, projects(c.a1, c.b1))
		p.expect(t, ina1, programs(c.B))
	})
	t.Run("deleteProject", func(t *testing.T) {
		p.warm(t, everyone...)
		ok, err := svc.DeleteProject(p.admin, c.a1)
		require.NoError(t, err)
		assert.True(t, ok)
		p.expect(t, inB, projects(c.b1))
		p.expect(t, ina1, projects())
		p.expect(t, ina1, programs())
		p.expectCounts(t, global, 3, 4)
	})
	t.Run("createProgram", func(t *testing.T) {
		p.warm(t, everyone...)
		pr, err := svc.CreateProgram(p.admin, ent.CreateProgramInput{Name: "D"})
		require.NoError(t, err)
		newProgram = pr.ID
		p.expectCounts(t, global, 4, 4)
		p.expect(t, bystander, programs(c.C))
	})
	t.Run("deleteProgram", func(t *testing.T) {
		holder := w.User("d@test.example")
		w.InProgram(holder, newProgram)
		p.warm(t, append(everyone, holder)...)
		_, err := svc.DeleteProgram(p.admin, newProgram)
		require.NoError(t, err)
		p.expectCounts(t, global, 3, 4)
		p.expect(t, holder, programs())
	})
	t.Run("updateUser deactivates", func(t *testing.T) {
		p.warm(t, everyone...)
		inactive := false
		_, err := svc.UpdateUser(p.admin, inB, ent.UpdateUserInput{Active: &inactive})
		require.NoError(t, err)
		p.expect(t, inB, projects())
	})
}

func TestManualOperations(t *testing.T) {
	p := newPair(t)
	svc, c, w := p.one.Authz, p.c, p.w
	u, v := w.User("m1@test.example"), w.User("m2@test.example")
	p.warm(t, u, v)

	// Changes written behind the gateway's back (no invalidation) stay
	// invisible until a manual invalidation: the cache is doing its job.
	w.InProgram(u, c.A)
	w.InProgram(v, c.B)
	p.expect(t, u, projects())

	t.Run("invalidateUserCache", func(t *testing.T) {
		require.NoError(t, svc.InvalidateUserCache(p.admin, u))
		p.expect(t, u, projects(c.a1, c.a2))
		p.expect(t, v, projects())
	})
	t.Run("invalidateAllCaches is one command", func(t *testing.T) {
		// The previous write may have suspended the L1 until the next
		// confirmation (a change seen committed before it was delivered):
		// wait until the viewer's check is answered from memory again.
		require.Eventually(t, func() bool {
			p.one.Trips.Reset()
			_, err := svc.Require(p.admin, access.CacheManage)
			return err == nil && p.one.Trips.Trips() == 0
		}, 5*time.Second, 10*time.Millisecond, "the L1 answers the viewer's check")
		p.one.Trips.Reset()
		require.NoError(t, svc.InvalidateAllCaches(p.admin))
		assert.Equal(t, 1, p.one.Trips.Trips(), "the invalidation (the viewer's permission check is answered by the L1)")
		p.expect(t, v, projects(c.b1))
	})
	t.Run("refreshUserCache returns the fresh summary", func(t *testing.T) {
		w.InProject(u, c.c1)
		sum, err := svc.RefreshUserCache(p.admin, u)
		require.NoError(t, err)
		assert.Equal(t, 2, sum.AccessibleProgramCount)
		assert.Equal(t, 3, sum.AccessibleProjectCount)
		p.expect(t, u, projects(c.a1, c.a2, c.c1))
	})
	t.Run("need CACHE_MANAGE", func(t *testing.T) {
		err := svc.InvalidateAllCaches(testenv.AsUser(u))
		assert.Equal(t, apperr.Forbidden, apperr.CodeOf(err), "%v", err)
	})
}

// Issue 17: role changes are idempotent under concurrency, as scopes are.
// Four identical assignRole calls at once all succeed (two used to fail
// with "conflicts with existing data"), and assignRole racing removeRole
// never answers NOT_FOUND for a user who exists.
func TestRoles_ConcurrentChangesAreIdempotent(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	w := testenv.NewWorld(t, g.DB.Client)
	admin := testenv.AsUser(g.Admin.ID)
	for round := range 5 {
		u := w.User(fmt.Sprintf("concurrent%d@test.example", round))
		errs := make(chan error, 4)
		for range 4 {
			go func() {
				_, err := g.Authz.AssignRole(admin, u, access.RoleViewer, nil)
				errs <- err
			}()
		}
		for range 4 {
			assert.NoError(t, <-errs, "round %d", round)
		}
		n, err := g.DB.Client.RoleAssignment.Query().Where(roleassignment.UserID(u)).Count(reqctx.NewContextWithSystem(admin))
		require.NoError(t, err)
		assert.Equal(t, 1, n, "one assignment")
	}

	u := w.User("racing@test.example")
	errs := make(chan error, 120)
	for i := range 120 {
		go func() {
			var err error
			if i%2 == 0 {
				_, err = g.Authz.AssignRole(admin, u, access.RoleViewer, nil)
			} else {
				_, err = g.Authz.RemoveRole(admin, u, access.RoleViewer)
			}
			errs <- err
		}()
	}
	for range 120 {
		assert.NoError(t, <-errs)
	}
}

// summaryOf is user's scope summary as g's service answers it.
func summaryOf(t *testing.T, g *testenv.Gateway, user int) answers.ScopeSummary {
	t.Helper()
	key := answers.Key{Kind: answers.KindScopeSummary, UserID: user}
	got, err := g.Answers.Answers(context.Background(), []answers.Key{key})
	require.NoError(t, err)
	return got[key].Summary
}

// Two scopes of one user in one bulk assignment: the change names the user
// twice, and its delivery records them once (the affected users are
// unique per change).
func TestMutations_BulkScopesOfOneUserAreDelivered(t *testing.T) {
	p := newPair(t)
	c := p.c
	u := p.w.User("bulk-one@test.example")
	p.warm(t, u)
	_, err := p.one.Authz.BulkAssignScopes(p.admin, []authz.ScopeInput{
		{UserID: u, ScopeType: access.ScopeProgram, ProgramID: &c.A},
		{UserID: u, ScopeType: access.ScopeProject, ProjectID: &c.b1},
	})
	require.NoError(t, err)
	p.expect(t, u, projects(c.a1, c.a2, c.b1))
	ctx := reqctx.NewContextWithSystem(context.Background())
	entry := p.one.DB.Client.AccessChange.Query().Where(accesschange.Operation("assignScope")).OnlyX(ctx)
	assert.NotNil(t, entry.DeliveredAt, "delivered")
	n, err := p.one.DB.Client.AccessChangeUser.Query().Where(accesschangeuser.ChangeID(entry.ID)).Count(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n, "the user recorded once")
}
