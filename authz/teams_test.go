package authz_test

import (
	"context"
	"testing"
	"time"

	"authz-gateway/access"
	"authz-gateway/apperr"
	"authz-gateway/authz"
	"authz-gateway/ent"
	"authz-gateway/ent/accesschange"
	"authz-gateway/ent/scopeassignment"
	"authz-gateway/internal/testenv"
	"authz-gateway/reqctx"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newTeam(t *testing.T, svc *authz.Service, as context.Context, name string) int {
	t.Helper()
	team, err := svc.CreateTeam(as, ent.CreateTeamInput{Name: name})
	require.NoError(t, err)
	return team.ID
}

// Every team write changes what its members may do, on both instances at
// once (each instance read every member before the write), and nothing for
// anyone else.
func TestTeams_WritesAreVisibleEverywhereAtOnce(t *testing.T) {
	p := newPair(t)
	svc, c, w := p.one.Authz, p.c, p.w
	ann, bob, cat, bystander := w.User("ann@test.example"), w.User("bob@test.example"),
		w.User("cat@test.example"), w.User("bystander@test.example")
	everyone := []int{ann, bob, cat, bystander}
	platform := newTeam(t, svc, p.admin, "Platform")
	var scope *ent.ScopeAssignment
	step := func(name string, mutate func() error, checks map[int]func(*testing.T, access.Reach)) {
		t.Run(name, func(t *testing.T) {
			p.warm(t, everyone...)
			require.NoError(t, mutate())
			for u, check := range checks {
				p.expect(t, u, check)
			}
		})
	}
	step("addTeamMember (the team holds nothing yet)", func() error {
		_, err := svc.AddTeamMember(p.admin, platform, ann, nil)
		if err == nil {
			_, err = svc.AddTeamMember(p.admin, platform, bob, nil)
		}
		return err
	}, map[int]func(*testing.T, access.Reach){ann: cannot(access.ProjectRead), bob: programs()})
	step("assignTeamRole", func() error { _, err := svc.AssignTeamRole(p.admin, platform, access.RoleViewer, nil); return err },
		map[int]func(*testing.T, access.Reach){ann: can(access.ProjectRead), bob: can(access.ProjectRead), bystander: cannot(access.ProjectRead)})
	step("assignScope to the team", func() (err error) {
		scope, err = svc.AssignScope(p.admin, authz.ScopeInput{TeamID: platform, ScopeType: access.ScopeProgram, ProgramID: &c.A})
		return err
	}, map[int]func(*testing.T, access.Reach){ann: projects(c.a1, c.a2), bob: projects(c.a1, c.a2), bystander: projects()})
	step("addTeamMember", func() error { _, err := svc.AddTeamMember(p.admin, platform, cat, nil); return err },
		map[int]func(*testing.T, access.Reach){cat: projects(c.a1, c.a2)})
	step("removeTeamMember", func() error { _, err := svc.RemoveTeamMember(p.admin, platform, ann); return err },
		map[int]func(*testing.T, access.Reach){ann: projects(), bob: projects(c.a1, c.a2)})
	step("setRolePermissions of a role the team holds", func() error {
		_, err := svc.SetRolePermissions(p.admin, access.RoleViewer, []access.Permission{access.ProgramRead})
		return err
	}, map[int]func(*testing.T, access.Reach){bob: cannot(access.ProjectRead), cat: can(access.ProgramRead)})
	step("deactivateScope of the team", func() error { _, err := svc.SetScopeActive(p.admin, scope.ID, false); return err },
		map[int]func(*testing.T, access.Reach){bob: projects(), cat: programs()})
	step("activateScope of the team", func() error { _, err := svc.SetScopeActive(p.admin, scope.ID, true); return err },
		map[int]func(*testing.T, access.Reach){bob: projects(c.a1, c.a2)})
	step("createProject in the team's program", func() error {
		_, err := svc.CreateProject(p.admin, ent.CreateProjectInput{Name: "a3", ProgramID: c.A})
		return err
	}, map[int]func(*testing.T, access.Reach){bob: func(t *testing.T, r access.Reach) { assert.Len(t, r.Projects, 3) }})
	step("removeTeamRole", func() error { _, err := svc.RemoveTeamRole(p.admin, platform, access.RoleViewer); return err },
		map[int]func(*testing.T, access.Reach){bob: cannot(access.ProgramRead), cat: cannot(access.ProgramRead)})
	step("deleteTeam", func() error { _, err := svc.DeleteTeam(p.admin, platform); return err },
		map[int]func(*testing.T, access.Reach){bob: programs(), cat: programs()})

	t.Run("every team write is in the log", func(t *testing.T) {
		ctx := reqctx.NewContextWithSystem(context.Background())
		for _, op := range []string{"createTeam", "addTeamMember", "assignTeamRole", "removeTeamMember", "removeTeamRole", "deleteTeam"} {
			n, err := p.one.DB.Client.AccessChange.Query().Where(accesschange.Operation(op)).Count(ctx)
			require.NoError(t, err)
			assert.Positive(t, n, op)
		}
	})
}

// A program deleted while a team holds a scope on it: its members' lists
// lose it at once (the team's holders are found like a user's).
func TestTeams_DeletingATargetReachesTheTeamsMembers(t *testing.T) {
	p := newPair(t)
	svc, w := p.one.Authz, p.w
	doomed := w.Program("doomed")
	member := w.User("member@test.example")
	team := newTeam(t, svc, p.admin, "Doomed team")
	_, err := svc.AssignScope(p.admin, authz.ScopeInput{TeamID: team, ScopeType: access.ScopeProgram, ProgramID: &doomed})
	require.NoError(t, err)
	_, err = svc.AddTeamMember(p.admin, team, member, nil)
	require.NoError(t, err)
	p.warm(t, member)
	p.expect(t, member, programs(doomed))
	_, err = svc.DeleteProgram(p.admin, doomed)
	require.NoError(t, err)
	p.expect(t, member, programs())
}

// No write confers more than its author holds, nor for longer: adding a
// member, granting a team or pointing it at a provider's group confers
// everything the team holds, so its author must be able to grant each of
// the team's roles and scopes directly, for as long (DESIGN section 3).
func TestTeams_NoWriteConfersMoreThanItsAuthorHolds(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	w := testenv.NewWorld(t, g.DB.Client)
	c := newCatalog(w)
	svc, admin := g.Authz, testenv.AsUser(g.Admin.ID)
	newcomer := w.User("newcomer@test.example")

	wide := newTeam(t, svc, admin, "Wide") // a PROGRAM scope on A
	_, err := svc.AssignScope(admin, authz.ScopeInput{TeamID: wide, ScopeType: access.ScopeProgram, ProgramID: &c.A})
	require.NoError(t, err)
	narrow := newTeam(t, svc, admin, "Narrow") // a PROJECT scope on a1
	_, err = svc.AssignScope(admin, authz.ScopeInput{TeamID: narrow, ScopeType: access.ScopeProject, ProjectID: &c.a1})
	require.NoError(t, err)
	viewers := newTeam(t, svc, admin, "Viewers") // the VIEWER role
	_, err = svc.AssignTeamRole(admin, viewers, access.RoleViewer, nil)
	require.NoError(t, err)

	t.Run("a PROJECT-scoped USER_MANAGE", func(t *testing.T) {
		setRole(t, g, access.RoleProjectManager, access.ProjectRead, access.ProjectWrite, access.UserRead, access.UserManage, access.ScopeManage)
		lead := w.User("lead@test.example")
		w.Role(lead, access.RoleProjectManager)
		w.InProject(lead, c.a1)
		as := testenv.AsUser(lead)
		_, err := svc.AddTeamMember(as, wide, newcomer, nil)
		requireCode(t, apperr.Forbidden, err)
		_, err = svc.AddTeamMember(as, viewers, newcomer, nil)
		requireCode(t, apperr.Forbidden, err)
		_, err = svc.AssignScope(as, authz.ScopeInput{TeamID: narrow, ScopeType: access.ScopeProgram, ProgramID: &c.A})
		requireCode(t, apperr.NotFound, err) // the lead cannot even read program A (no PROGRAM_READ)
		_, err = svc.DeleteTeam(as, wide)
		requireCode(t, apperr.Forbidden, err)
		group := "engineering"
		_, err = svc.UpdateTeam(as, viewers, ent.UpdateTeamInput{ExternalGroup: &group})
		requireCode(t, apperr.Forbidden, err)
		// What the lead does hold: the project.
		_, err = svc.AddTeamMember(as, narrow, newcomer, nil)
		require.NoError(t, err)
		reach, err := svc.Reach(context.Background(), newcomer)
		require.NoError(t, err)
		assert.Equal(t, []int{c.a1}, reach.Projects)
		_, err = svc.RemoveTeamMember(as, narrow, newcomer)
		require.NoError(t, err)
	})

	t.Run("a temporary admin", func(t *testing.T) {
		temp := w.User("temp@test.example")
		w.Global(temp)
		_, err := svc.AssignRole(admin, temp, access.RoleAdmin, ptr(time.Now().Add(time.Hour)))
		require.NoError(t, err)
		as := testenv.AsUser(temp)
		_, err = svc.AddTeamMember(as, viewers, newcomer, nil)
		requireCode(t, apperr.Forbidden, err)
		_, err = svc.AddTeamMember(as, viewers, newcomer, ptr(time.Now().Add(2*time.Hour)))
		requireCode(t, apperr.Forbidden, err)
		_, err = svc.AssignTeamRole(as, wide, access.RoleViewer, nil)
		requireCode(t, apperr.Forbidden, err)
		_, err = svc.AddTeamMember(as, viewers, newcomer, ptr(time.Now().Add(30*time.Minute)))
		require.NoError(t, err, "within the author's own end")
		_, err = svc.AssignTeamRole(as, wide, access.RoleViewer, ptr(time.Now().Add(30*time.Minute)))
		require.NoError(t, err)
	})

	t.Run("an admin through a team that ends", func(t *testing.T) {
		admins := newTeam(t, svc, admin, "Admins")
		_, err := svc.AssignTeamRole(admin, admins, access.RoleAdmin, nil)
		require.NoError(t, err)
		_, err = svc.AssignScope(admin, authz.ScopeInput{TeamID: admins, ScopeType: access.ScopeGlobal})
		require.NoError(t, err)
		visitor := w.User("visitor@test.example")
		_, err = svc.AddTeamMember(admin, admins, visitor, ptr(time.Now().Add(time.Hour)))
		require.NoError(t, err)
		as := testenv.AsUser(visitor)
		_, err = svc.AssignRole(as, newcomer, access.RoleViewer, nil)
		requireCode(t, apperr.Forbidden, err)
		_, err = svc.AddTeamMember(as, admins, newcomer, nil)
		requireCode(t, apperr.Forbidden, err)
		_, err = svc.AssignRole(as, newcomer, access.RoleViewer, ptr(time.Now().Add(30*time.Minute)))
		require.NoError(t, err)
	})

	t.Run("ROLE_MANAGE without GLOBAL", func(t *testing.T) {
		setRole(t, g, access.RoleProgramManager, access.ProgramRead, access.ProjectRead, access.UserRead, access.UserManage, access.RoleManage)
		scoped := w.User("scoped@test.example")
		w.Role(scoped, access.RoleProgramManager)
		w.InProgram(scoped, c.A)
		as := testenv.AsUser(scoped)
		_, err := svc.AssignTeamRole(as, narrow, access.RoleViewer, nil)
		requireCode(t, apperr.Forbidden, err)
		_, err = svc.AddTeamMember(as, viewers, newcomer, nil)
		requireCode(t, apperr.Forbidden, err)
		_, err = svc.RemoveTeamRole(as, viewers, access.RoleViewer)
		requireCode(t, apperr.Forbidden, err)
	})
}

// The last-admin rule counts only a direct, end-less ADMIN role and GLOBAL
// scope: an admin through a team does not count (a team can be emptied,
// or lose its grants, without the rule being asked), so the last direct
// admin stays, and the team's grants may go.
func TestTeams_TheLastAdminIsADirectOne(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	w := testenv.NewWorld(t, g.DB.Client)
	svc, admin := g.Authz, testenv.AsUser(g.Admin.ID)
	admins := newTeam(t, svc, admin, "Admins")
	_, err := svc.AssignTeamRole(admin, admins, access.RoleAdmin, nil)
	require.NoError(t, err)
	_, err = svc.AssignScope(admin, authz.ScopeInput{TeamID: admins, ScopeType: access.ScopeGlobal})
	require.NoError(t, err)
	other := w.User("other-admin@test.example")
	_, err = svc.AddTeamMember(admin, admins, other, nil)
	require.NoError(t, err)
	reach, err := svc.Reach(context.Background(), other)
	require.NoError(t, err)
	require.True(t, reach.Global && reach.Can(access.RoleManage), "an admin through the team")

	_, err = svc.RemoveRole(admin, g.Admin.ID, access.RoleAdmin)
	requireCode(t, apperr.Forbidden, err)
	ctx := reqctx.NewContextWithSystem(context.Background())
	global := g.DB.Client.ScopeAssignment.Query().
		Where(scopeassignment.UserID(g.Admin.ID), scopeassignment.ScopeTypeEQ(access.ScopeGlobal)).OnlyX(ctx)
	_, err = svc.SetScopeActive(admin, global.ID, false)
	requireCode(t, apperr.Forbidden, err)
	// The team's own admin grants may go: they never counted.
	_, err = svc.RemoveTeamRole(admin, admins, access.RoleAdmin)
	require.NoError(t, err)
}

// A membership with an end, and a team's grant with an end, stop counting
// at them, with no write: every tier refuses the answers built from them,
// and each end is logged once.
func TestTeams_MembershipsAndTeamGrantsEndOnTheirOwn(t *testing.T) {
	p := newPair(t)
	svc, c, w := p.one.Authz, p.c, p.w
	temp := w.User("temp-member@test.example")
	team := newTeam(t, svc, p.admin, "Temporary")
	_, err := svc.AssignScope(p.admin, authz.ScopeInput{TeamID: team, ScopeType: access.ScopeProject, ProjectID: &c.b1})
	require.NoError(t, err)
	roleEnd := time.Now().Add(1200 * time.Millisecond)
	_, err = svc.AssignTeamRole(p.admin, team, access.RoleViewer, &roleEnd)
	require.NoError(t, err)
	memberEnd := roleEnd.Add(600 * time.Millisecond)
	_, err = svc.AddTeamMember(p.admin, team, temp, &memberEnd)
	require.NoError(t, err)
	p.expect(t, temp, projects(c.b1))
	p.expect(t, temp, can(access.ProjectRead))
	time.Sleep(time.Until(roleEnd))
	p.expect(t, temp, cannot(access.ProjectRead)) // the team's role ended
	p.expect(t, temp, projects(c.b1))             // its scope did not
	time.Sleep(time.Until(memberEnd))
	p.expect(t, temp, projects())
	ctx := reqctx.NewContextWithSystem(context.Background())
	require.Eventually(t, func() bool {
		n, err := p.one.DB.Client.AccessChange.Query().Where(accesschange.Operation("expire")).Count(ctx)
		return err == nil && n == 2
	}, 10*time.Second, 20*time.Millisecond, "each end is logged once")
}

func ptr[T any](v T) *T { return &v }
