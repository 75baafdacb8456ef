package httpapi_test

import (
	"strconv"
	"testing"
	"time"

	"authz-gateway/access"
	"authz-gateway/internal/testenv"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGrantBounds_NoGrantOutlivesItsAuthor: through the transport, in the
// production configuration: a temporary admin cannot make their ADMIN
// permanent, nor grant anyone a role past their own end; a program
// manager whose PROGRAM scope ends in an hour cannot make it permanent
// nor grant it to a colleague until 9999, and cannot reactivate a
// deactivated scope that has no end. Within their own end, they can.
func TestGrantBounds_NoGrantOutlivesItsAuthor(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{RateLimit: testenv.ProductionRateLimit()})
	w := testenv.NewWorld(t, g.DB.Client)
	admin := g.Token(t, g.Admin.ID)
	program := w.Program("Apollo")
	lander := w.Project(program, "Lander")
	temp, manager, colleague := w.User("temp@test.example"), w.User("manager@test.example"), w.User("colleague@test.example")
	inHour := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	inHalf := time.Now().Add(30 * time.Minute).UTC().Format(time.RFC3339)
	in2h := time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339)
	const farFuture = "9999-12-31T00:00:00Z"

	assignRole := `mutation($u: ID!, $r: RoleType!, $e: Time) { assignRole(userId: $u, role: $r, expiresAt: $e) { id } }`
	assignScope := `mutation($in: AssignScopeInput!) { assignScope(input: $in) { id } }`
	id := strconv.Itoa
	// The temporary admin: ADMIN until in an hour, GLOBAL with no end.
	testenv.MustOK(t, g.Do(t, admin, assignRole, map[string]any{"u": id(temp), "r": "ADMIN", "e": inHour}))
	w.Global(temp)
	tempToken := g.Token(t, temp)

	codes := func(token, q string, vars map[string]any) []string { return g.Do(t, token, q, vars).Codes() }
	assert.Equal(t, []string{"FORBIDDEN"}, codes(tempToken, assignRole, map[string]any{"u": id(temp), "r": "ADMIN", "e": nil}),
		"making their own ADMIN permanent")
	assert.Equal(t, []string{"FORBIDDEN"}, codes(tempToken, assignRole, map[string]any{"u": id(colleague), "r": "VIEWER", "e": nil}),
		"a permanent role from a temporary ROLE_MANAGE")
	assert.Equal(t, []string{"FORBIDDEN"}, codes(tempToken, assignRole, map[string]any{"u": id(colleague), "r": "VIEWER", "e": in2h}),
		"a role past their own end")
	testenv.MustOK(t, g.Do(t, tempToken, assignRole, map[string]any{"u": id(colleague), "r": "VIEWER", "e": inHalf}))
	// Reactivating an assignment with no end is granting it with no end.
	w.Role(colleague, access.RoleProjectManager, false)
	assert.Equal(t, []string{"FORBIDDEN"}, codes(tempToken, `mutation($u: ID!) { activateRole(userId: $u, role: PROJECT_MANAGER) { id } }`,
		map[string]any{"u": id(colleague)}))

	// The program manager: SCOPE_MANAGE for good, the PROGRAM scope for an hour.
	testenv.MustOK(t, g.Do(t, admin, `mutation { setRolePermissions(role: PROGRAM_MANAGER, permissions: [PROGRAM_READ, PROGRAM_WRITE, PROJECT_READ, PROJECT_WRITE, USER_READ, SCOPE_MANAGE]) { id } }`, nil))
	w.Role(manager, access.RoleProgramManager)
	scope := func(user int, end any) map[string]any {
		return map[string]any{"in": map[string]any{"userId": id(user), "scopeType": "PROGRAM", "programId": id(program), "expiresAt": end}}
	}
	testenv.MustOK(t, g.Do(t, admin, assignScope, scope(manager, inHour)))
	managerToken := g.Token(t, manager)
	assert.Equal(t, []string{"FORBIDDEN"}, codes(managerToken, assignScope, scope(manager, nil)), "making their own scope permanent")
	assert.Equal(t, []string{"FORBIDDEN"}, codes(managerToken, assignScope, scope(colleague, farFuture)), "a colleague until 9999")
	assert.Equal(t, []string{"FORBIDDEN"}, codes(managerToken, `mutation($in: [AssignScopeInput!]!) { bulkAssignScopes(inputs: $in) { id } }`,
		map[string]any{"in": []any{scope(colleague, inHalf)["in"], scope(colleague, nil)["in"]}}), "in bulk too: all or nothing")
	testenv.MustOK(t, g.Do(t, managerToken, assignScope, scope(colleague, inHalf)))
	// A project of the program is covered by the PROGRAM scope, for as long.
	projectScope := map[string]any{"in": map[string]any{"userId": id(colleague), "scopeType": "PROJECT", "projectId": id(lander), "expiresAt": nil}}
	assert.Equal(t, []string{"FORBIDDEN"}, codes(managerToken, assignScope, projectScope))
	// A deactivated scope with no end stays inactive.
	dormant := w.InProgram(w.User("dormant@test.example"), program, false)
	assert.Equal(t, []string{"FORBIDDEN"}, codes(managerToken, `mutation($id: ID!) { activateScope(id: $id) { id } }`, map[string]any{"id": id(dormant)}))
	// The permanent admin is bound by nothing.
	testenv.MustOK(t, g.Do(t, admin, assignScope, scope(colleague, farFuture)))
}

// TestUpdateUser_NarrowUserManageCannotTakeOverAWiderUser: a PROJECT
// manager with USER_MANAGE and one PROJECT scope cannot point a GLOBAL
// auditor's externalId or email at an identity they control, nor
// reactivate a deactivated admin; a user within their reach they can
// change.
func TestUpdateUser_NarrowUserManageCannotTakeOverAWiderUser(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{RateLimit: testenv.ProductionRateLimit()})
	w := testenv.NewWorld(t, g.DB.Client)
	admin := g.Token(t, g.Admin.ID)
	program := w.Program("Apollo")
	project := w.Project(program, "Lander")
	testenv.MustOK(t, g.Do(t, admin, `mutation { setRolePermissions(role: PROJECT_MANAGER, permissions: [PROGRAM_READ, PROJECT_READ, PROJECT_WRITE, USER_READ, USER_MANAGE]) { id } }`, nil))
	manager := w.User("pm@test.example")
	w.Role(manager, access.RoleProjectManager)
	w.InProject(manager, project)
	auditor := w.User("auditor@test.example")
	w.Role(auditor, access.RoleViewer)
	w.Global(auditor)
	fired := w.User("fired.admin@test.example")
	w.Role(fired, access.RoleAdmin)
	w.Global(fired)
	w.Deactivate(fired)
	peer := w.User("peer@test.example")
	w.Role(peer, access.RoleViewer)
	w.InProject(peer, project)

	pm := g.Token(t, manager)
	update := `mutation($u: ID!, $in: UpdateUserInput!) { updateUser(id: $u, input: $in) { id } }`
	codes := func(user int, in map[string]any) []string {
		return g.Do(t, pm, update, map[string]any{"u": strconv.Itoa(user), "in": in}).Codes()
	}
	assert.Equal(t, []string{"FORBIDDEN"}, codes(auditor, map[string]any{"externalId": "pm-controlled"}))
	assert.Equal(t, []string{"FORBIDDEN"}, codes(auditor, map[string]any{"email": "pm.second@test.example"}))
	assert.Equal(t, []string{"FORBIDDEN"}, codes(auditor, map[string]any{"active": false}))
	assert.Equal(t, []string{"FORBIDDEN"}, codes(fired, map[string]any{"active": true}), "reactivating an admin")
	assert.Empty(t, codes(peer, map[string]any{"externalId": "peer-sub"}), "a user within their reach")
}

// TestScopeSummary_DirectScopesCarryTheirEnd: issue 31, finding 10:
// scopeSummary.directScopes answered expiresAt null for a time-bound
// scope (the cached scope's end was dropped on the way out).
func TestScopeSummary_DirectScopesCarryTheirEnd(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	w := testenv.NewWorld(t, g.DB.Client)
	program := w.Program("Apollo")
	user := w.User("timed@test.example")
	w.Role(user, access.RoleViewer)
	end := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond).Format(time.RFC3339Nano)
	testenv.MustOK(t, g.Do(t, g.Token(t, g.Admin.ID), `mutation($in: AssignScopeInput!) { assignScope(input: $in) { id } }`,
		map[string]any{"in": map[string]any{"userId": strconv.Itoa(user), "scopeType": "PROGRAM", "programId": strconv.Itoa(program), "expiresAt": end}}))
	var got struct {
		Me struct {
			ScopeSummary struct{ DirectScopes []struct{ ExpiresAt *string } }
		}
	}
	testenv.MustOK(t, g.Do(t, g.Token(t, user), `{ me { scopeSummary { directScopes { expiresAt } } } }`, nil)).Decode(t, &got)
	require.Len(t, got.Me.ScopeSummary.DirectScopes, 1)
	require.NotNil(t, got.Me.ScopeSummary.DirectScopes[0].ExpiresAt)
	shown, err := time.Parse(time.RFC3339Nano, *got.Me.ScopeSummary.DirectScopes[0].ExpiresAt)
	require.NoError(t, err)
	want, _ := time.Parse(time.RFC3339Nano, end)
	assert.True(t, want.Equal(shown), "%s, not %s", shown, want)
}

// TestCreateUser_RefusesLookalikes: issue 31, finding 2, on the admin's
// path: an email not in NFC, or an email or name with a control or format
// character (a zero-width space, a bidirectional override), is
// BAD_USER_INPUT, and nothing is created; an ASCII capital is folded.
func TestCreateUser_RefusesLookalikes(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	admin := g.Token(t, g.Admin.ID)
	create := `mutation($in: CreateUserInput!) { createUser(input: $in) { email } }`
	for _, in := range []map[string]any{
		{"email": "jose\u0301@test.example", "name": "José"},
		{"email": "\u212Aim@test.example", "name": "Kim"},
		{"email": "kim\u200B@test.example", "name": "Kim"},
		{"email": "kim@test.example", "name": "Kim\u200B"},
		{"email": "kim@test.example", "name": "\u202EmiK"},
	} {
		assert.Equal(t, []string{"BAD_USER_INPUT"}, g.Do(t, admin, create, map[string]any{"in": in}).Codes(), "%q", in)
	}
	var got struct{ CreateUser struct{ Email string } }
	testenv.MustOK(t, g.Do(t, admin, create, map[string]any{"in": map[string]any{"email": "Kim@Test.Example", "name": "Kim"}})).Decode(t, &got)
	assert.Equal(t, "kim@test.example", got.CreateUser.Email)
}
