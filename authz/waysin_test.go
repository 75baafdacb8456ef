package authz_test

import (
	"context"
	"sync"
	"testing"

	"authz-gateway/access"
	"authz-gateway/apperr"
	"authz-gateway/authz"
	"authz-gateway/cache"
	"authz-gateway/db"
	"authz-gateway/ent"
	"authz-gateway/ent/role"
	"authz-gateway/ent/roleassignment"
	"authz-gateway/ent/scopeassignment"
	"authz-gateway/internal/testenv"
	"authz-gateway/reqctx"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The ways in of issue 9, each a repro that worked before the fix.

func requireCode(t *testing.T, want apperr.Code, err error) {
	t.Helper()
	require.Error(t, err)
	assert.Equal(t, want, apperr.CodeOf(err), "%v", err)
}

// setRole gives role rt exactly perms, directly in the database.
func setRole(t *testing.T, g *testenv.Gateway, rt access.RoleType, perms ...access.Permission) {
	ctx := reqctx.NewContextWithSystem(context.Background())
	g.DB.Client.Role.Update().Where(role.TypeEQ(rt)).SetPermissions(perms).ExecX(ctx)
	require.NoError(t, g.Cache.Invalidate(ctx, cache.Invalidation{All: true}))
}

// Repro 3: a PROJECT-scoped manager widened its own scope and wrote to the
// parent program.
func TestWaysIn_ProjectScopeGivesNoWriteOnTheParent(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	w := testenv.NewWorld(t, g.DB.Client)
	c := newCatalog(w)
	u := w.User("lead@test.example")
	w.Role(u, access.RoleAdmin) // every permission, scoped to one project
	w.InProject(u, c.a1)
	other := w.User("other@test.example")
	as := testenv.AsUser(u)

	_, err := g.Authz.AssignScope(as, authz.ScopeInput{UserID: u, ScopeType: access.ScopeProgram, ProgramID: &c.A})
	requireCode(t, apperr.Forbidden, err)
	_, err = g.Authz.CreateProject(as, ent.CreateProjectInput{Name: "sneaky", ProgramID: c.A})
	requireCode(t, apperr.Forbidden, err)
	desc := "mine now"
	_, err = g.Authz.UpdateProgram(as, c.A, ent.UpdateProgramInput{Description: &desc})
	requireCode(t, apperr.Forbidden, err)
	_, err = g.Authz.UpdateProject(as, c.a1, ent.UpdateProjectInput{ProgramID: &c.B})
	requireCode(t, apperr.NotFound, err)

	// What the scope does give: the project itself.
	_, err = g.Authz.UpdateProject(as, c.a1, ent.UpdateProjectInput{Description: &desc})
	require.NoError(t, err)
	_, err = g.Authz.AssignScope(as, authz.ScopeInput{UserID: other, ScopeType: access.ScopeProject, ProjectID: &c.a1})
	require.NoError(t, err)
}

// Repro 4: a PROGRAM-scoped user with ROLE_MANAGE made itself ADMIN,
// rewrote ADMIN and demoted the real admin.
func TestWaysIn_RoleManagementNeedsGlobalAndStaysWithinOwnPermissions(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	w := testenv.NewWorld(t, g.DB.Client)
	c := newCatalog(w)
	setRole(t, g, access.RoleProgramManager, access.ProgramRead, access.ProjectRead, access.RoleManage)
	scoped := w.User("scoped@test.example")
	w.Role(scoped, access.RoleProgramManager)
	w.InProgram(scoped, c.A)
	as := testenv.AsUser(scoped)

	_, err := g.Authz.AssignRole(as, scoped, access.RoleAdmin, nil)
	requireCode(t, apperr.Forbidden, err)
	_, err = g.Authz.SetRolePermissions(as, access.RoleAdmin, []access.Permission{access.ProgramRead})
	requireCode(t, apperr.Forbidden, err)
	_, err = g.Authz.SetRoleActive(as, g.Admin.ID, access.RoleAdmin, false)
	requireCode(t, apperr.Forbidden, err)

	// GLOBAL, but holding less than ADMIN: only roles within its own
	// permissions.
	global := w.User("global@test.example")
	w.Role(global, access.RoleProgramManager)
	w.Global(global)
	as = testenv.AsUser(global)
	target := w.User("target@test.example")
	_, err = g.Authz.AssignRole(as, target, access.RoleAdmin, nil)
	requireCode(t, apperr.Forbidden, err)
	_, err = g.Authz.SetRolePermissions(as, access.RoleViewer, []access.Permission{access.UserManage})
	requireCode(t, apperr.Forbidden, err)
	_, err = g.Authz.AssignRole(as, target, access.RoleViewer, nil)
	require.NoError(t, err, "VIEWER's permissions are all its own")

	// Not even an admin can strip ADMIN: nobody could restore it.
	_, err = g.Authz.SetRolePermissions(testenv.AsUser(g.Admin.ID), access.RoleAdmin, []access.Permission{access.ProgramRead})
	requireCode(t, apperr.BadUserInput, err)
}

// Repro 5: a USER_MANAGE holder moved the admin's email and took
// ADMIN_EMAIL; the next start made it ADMIN with GLOBAL scope.
func TestWaysIn_AdminTakeoverByEmail(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	w := testenv.NewWorld(t, g.DB.Client)
	setRole(t, g, access.RoleViewer, access.ProgramRead, access.ProjectRead, access.UserRead, access.UserManage)
	mallory := w.User("mallory@test.example")
	w.Role(mallory, access.RoleViewer)
	w.Global(mallory)
	moved := "moved@test.example"
	_, err := g.Authz.UpdateUser(testenv.AsUser(mallory), g.Admin.ID, ent.UpdateUserInput{Email: &moved})
	requireCode(t, apperr.Forbidden, err)

	// Even if ADMIN_EMAIL changes hands (here: the admin moves, legitimately),
	// a start grants nothing while an admin exists.
	_, err = g.Authz.UpdateUser(testenv.AsUser(g.Admin.ID), g.Admin.ID, ent.UpdateUserInput{Email: &moved})
	require.NoError(t, err)
	taken := testenv.AdminEmail
	_, err = g.Authz.UpdateUser(testenv.AsUser(mallory), mallory, ent.UpdateUserInput{Email: &taken})
	require.NoError(t, err)
	granted, err := g.Authz.BootstrapAdmin(context.Background(), testenv.AdminEmail, db.GrantAdmin)
	require.NoError(t, err)
	assert.Nil(t, granted, "an admin exists: nobody is granted anything")
	reach, err := g.Authz.Reach(context.Background(), mallory)
	require.NoError(t, err)
	assert.False(t, reach.Can(access.RoleManage))
}

// Repro 6: the only admin could deactivate itself or lose ADMIN or GLOBAL,
// and no restart recovered it.
func TestWaysIn_LastAdminIsKept(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	admin := testenv.AsUser(g.Admin.ID)
	ctx := reqctx.NewContextWithSystem(context.Background())
	global := g.DB.Client.ScopeAssignment.Query().
		Where(scopeassignment.UserID(g.Admin.ID), scopeassignment.ScopeTypeEQ(access.ScopeGlobal)).OnlyX(ctx)
	off := false

	_, err := g.Authz.UpdateUser(admin, g.Admin.ID, ent.UpdateUserInput{Active: &off})
	requireCode(t, apperr.Forbidden, err)
	_, err = g.Authz.SetRoleActive(admin, g.Admin.ID, access.RoleAdmin, false)
	requireCode(t, apperr.Forbidden, err)
	_, err = g.Authz.RemoveRole(admin, g.Admin.ID, access.RoleAdmin)
	requireCode(t, apperr.Forbidden, err)
	_, err = g.Authz.SetScopeActive(admin, global.ID, false)
	requireCode(t, apperr.Forbidden, err)
	_, err = g.Authz.RemoveScope(admin, global.ID)
	requireCode(t, apperr.Forbidden, err)
	reach, err := g.Authz.Reach(context.Background(), g.Admin.ID)
	require.NoError(t, err)
	assert.True(t, reach.Global && reach.Can(access.RoleManage), "nothing was taken away")

	// With a second admin, the first may step down.
	w := testenv.NewWorld(t, g.DB.Client)
	second := w.User("second@test.example")
	w.Role(second, access.RoleAdmin)
	w.Global(second)
	_, err = g.Authz.UpdateUser(admin, g.Admin.ID, ent.UpdateUserInput{Active: &off})
	require.NoError(t, err)
}

// Repro 7: start-up writes skipped invalidation: with the admin's role gone
// and read, a restart re-created it but both instances kept answering
// `permissions: []` until the TTL.
func TestWaysIn_StartUpWritesInvalidate(t *testing.T) {
	p := newPair(t)
	ctx := reqctx.NewContextWithSystem(context.Background())
	// The admin loses ADMIN behind the service's back (an operator's SQL).
	p.one.DB.Client.RoleAssignment.Delete().Where(roleassignment.UserID(p.one.Admin.ID)).ExecX(ctx)
	require.NoError(t, p.one.Cache.Invalidate(ctx, cache.Invalidation{Users: []int{p.one.Admin.ID}}))
	p.expect(t, p.one.Admin.ID, cannot(access.RoleManage)) // and both instances cache that

	restarted := testenv.NewGateway(t, testenv.Options{DatabaseURL: p.one.DatabaseURL, Prefix: p.one.Prefix()})
	require.NotNil(t, restarted)
	p.expect(t, p.one.Admin.ID, can(access.RoleManage))
}

// Repro 8: 20 concurrent identical assignScope calls created 2 rows, and
// removing one left the other in force.
func TestWaysIn_DuplicateScopesAreImpossible(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	w := testenv.NewWorld(t, g.DB.Client)
	c := newCatalog(w)
	u := w.User("dup@test.example")
	admin := testenv.AsUser(g.Admin.ID)
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := g.Authz.AssignScope(admin, authz.ScopeInput{UserID: u, ScopeType: access.ScopeProgram, ProgramID: &c.A})
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	ctx := reqctx.NewContextWithSystem(context.Background())
	assert.Equal(t, 1, g.DB.Client.ScopeAssignment.Query().Where(scopeassignment.UserID(u)).CountX(ctx))

	// The database itself refuses duplicates, NULL targets included.
	for _, create := range []*ent.ScopeAssignmentCreate{
		g.DB.Client.ScopeAssignment.Create().SetUserID(u).SetScopeType(access.ScopeProgram).SetProgramID(c.A),
		g.DB.Client.ScopeAssignment.Create().SetUserID(g.Admin.ID).SetScopeType(access.ScopeGlobal),
	} {
		_, err := create.Save(ctx)
		assert.True(t, ent.IsConstraintError(err), "duplicate refused: %v", err)
	}
}

// ADMIN always holds every permission: a start gives it a permission added
// since (AUDIT_READ), invalidating its holders.
func TestBootstrap_AdminGainsNewPermissions(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	setRole(t, g, access.RoleAdmin, access.DefaultPermissions(access.RoleViewer)...)
	p := &pair{one: g, two: g}
	p.expect(t, g.Admin.ID, cannot(access.AuditRead))
	_, err := g.Authz.BootstrapAdmin(context.Background(), testenv.AdminEmail, db.GrantAdmin)
	require.NoError(t, err)
	p.expect(t, g.Admin.ID, can(access.AuditRead))
}
