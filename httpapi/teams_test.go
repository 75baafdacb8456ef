package httpapi_test

import (
	"encoding/json"
	"strconv"
	"testing"

	"authz-gateway/internal/testenv"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTeams_TheAPIThroughTheTransport: the teams API of DESIGN section 5
// over HTTP, in the production configuration, on two instances: a team is
// created, granted a role and a scope, given members; every answer about a
// member (can, checkAccess, the lists, the summary) follows on the other
// instance at once; explainAccess names the team, accessors counts its
// members, User.teams and Team.members list them, RoleAssignment.team and
// ScopeAssignment.team name the holder; bad input is BAD_USER_INPUT.
func TestTeams_TheAPIThroughTheTransport(t *testing.T) {
	one := testenv.NewGateway(t, testenv.Options{RateLimit: testenv.ProductionRateLimit()})
	two := testenv.NewGateway(t, testenv.Options{DatabaseURL: one.DatabaseURL, Prefix: one.Prefix(), RateLimit: testenv.ProductionRateLimit()})
	w := testenv.NewWorld(t, one.DB.Client)
	program := w.Program("Apollo")
	lander := w.Project(program, "Lander")
	other := w.Project(w.Program("Gemini"), "Capsule")
	ann, bob := w.User("ann@test.example"), w.User("bob@test.example")
	admin := one.Token(t, one.Admin.ID)
	id := strconv.Itoa
	data := func(r testenv.Response, into any) {
		t.Helper()
		testenv.MustOK(t, r)
		require.NoError(t, json.Unmarshal(r.Data, into))
	}

	var created struct {
		CreateTeam struct{ ID string } `json:"createTeam"`
	}
	data(one.Do(t, admin, `mutation { createTeam(input: {name: "Platform", description: "The platform team"}) { id } }`, nil), &created)
	team := created.CreateTeam.ID
	assert.Equal(t, []string{"BAD_USER_INPUT"}, one.Do(t, admin, `mutation { createTeam(input: {name: "Platform"}) { id } }`, nil).Codes(),
		"a name is unique")
	assert.Equal(t, []string{"BAD_USER_INPUT"}, one.Do(t, admin, `mutation { createTeam(input: {name: "bad\u200bname"}) { id } }`, nil).Codes(),
		"no format characters")

	var role struct {
		AssignTeamRole struct {
			Team struct{ Name string }
			User *struct{ ID string }
		} `json:"assignTeamRole"`
	}
	data(one.Do(t, admin, `mutation($t: ID!) { assignTeamRole(teamId: $t, role: VIEWER) { team { name } user { id } } }`,
		map[string]any{"t": team}), &role)
	assert.Equal(t, "Platform", role.AssignTeamRole.Team.Name)
	assert.Nil(t, role.AssignTeamRole.User, "a team holds it")

	assignScope := `mutation($in: AssignScopeInput!) { assignScope(input: $in) { id team { name } user { id } } }`
	testenv.MustOK(t, one.Do(t, admin, assignScope, map[string]any{"in": map[string]any{"teamId": team, "scopeType": "PROGRAM", "programId": id(program)}}))
	for _, in := range []map[string]any{
		{"scopeType": "GLOBAL"}, // neither holder
		{"teamId": team, "userId": id(ann), "scopeType": "GLOBAL"},
	} {
		assert.Equal(t, []string{"BAD_USER_INPUT"}, one.Do(t, admin, assignScope, map[string]any{"in": in}).Codes(), "%v", in)
	}

	annToken := two.Token(t, ann)
	canRead := `query($on: ID!) { me { can(permission: PROJECT_READ, on: $on) accessibleProjectIds scopeSummary { accessibleProjectCount directScopes { id team { name } } } } }`
	type me struct {
		Me struct {
			Can                  bool
			AccessibleProjectIds []string
			ScopeSummary         struct {
				AccessibleProjectCount int
				DirectScopes           []struct{ Team *struct{ Name string } }
			}
		}
	}
	var before me
	data(two.Do(t, annToken, canRead, map[string]any{"on": id(lander)}), &before)
	assert.False(t, before.Me.Can, "not a member yet")

	addMember := `mutation($t: ID!, $u: ID!) { addTeamMember(teamId: $t, userId: $u) { active team { name } user { email } } }`
	testenv.MustOK(t, one.Do(t, admin, addMember, map[string]any{"t": team, "u": id(ann)}))
	testenv.MustOK(t, one.Do(t, admin, addMember, map[string]any{"t": team, "u": id(bob)}))
	var after me
	data(two.Do(t, annToken, canRead, map[string]any{"on": id(lander)}), &after)
	assert.True(t, after.Me.Can, "a member, on the other instance at once")
	assert.Equal(t, []string{id(lander)}, after.Me.AccessibleProjectIds)
	assert.Equal(t, 1, after.Me.ScopeSummary.AccessibleProjectCount)
	require.Len(t, after.Me.ScopeSummary.DirectScopes, 1)
	require.NotNil(t, after.Me.ScopeSummary.DirectScopes[0].Team)
	assert.Equal(t, "Platform", after.Me.ScopeSummary.DirectScopes[0].Team.Name)

	var explained struct {
		ExplainAccess struct {
			Allowed bool
			Roles   []struct{ Team *struct{ Name string } }
			Scopes  []struct{ Team *struct{ Name string } }
		} `json:"explainAccess"`
	}
	data(two.Do(t, admin, `query($u: ID!, $on: ID!) { explainAccess(userId: $u, permission: PROJECT_READ, on: $on) { allowed roles { team { name } } scopes { team { name } } } }`,
		map[string]any{"u": id(ann), "on": id(lander)}), &explained)
	assert.True(t, explained.ExplainAccess.Allowed)
	require.Len(t, explained.ExplainAccess.Roles, 1)
	require.Len(t, explained.ExplainAccess.Scopes, 1)
	assert.Equal(t, "Platform", explained.ExplainAccess.Roles[0].Team.Name, "through team Platform")
	assert.Equal(t, "Platform", explained.ExplainAccess.Scopes[0].Team.Name)

	var checks struct{ CheckAccess []bool }
	data(two.Do(t, admin, `query($checks: [AccessCheckInput!]!) { checkAccess(checks: $checks) }`, map[string]any{"checks": []map[string]any{
		{"userId": id(bob), "permission": "PROJECT_READ", "on": id(lander)},
		{"userId": id(bob), "permission": "PROJECT_READ", "on": id(other)},
		{"userId": id(bob), "permission": "PROJECT_WRITE", "on": id(lander)},
	}}), &checks)
	assert.Equal(t, []bool{true, false, false}, checks.CheckAccess)

	var accessors struct {
		Node struct {
			Accessors struct {
				TotalCount int
				Edges      []struct{ Node struct{ Email string } }
			}
		}
	}
	data(two.Do(t, admin, `query($p: ID!) { node(id: $p) { ... on Project { accessors(permission: PROJECT_READ, first: 1) { totalCount edges { node { email } } } } } }`,
		map[string]any{"p": id(lander)}), &accessors)
	assert.Equal(t, 3, accessors.Node.Accessors.TotalCount, "the admin and the team's two members")
	assert.Len(t, accessors.Node.Accessors.Edges, 1, "a page")

	var listed struct {
		Teams struct {
			TotalCount int
			Edges      []struct {
				Node struct {
					Name    string
					Members struct {
						TotalCount int
						Edges      []struct{ Node struct{ Email string } }
					}
				}
			}
		}
	}
	data(one.Do(t, admin, `{ teams(first: 10) { totalCount edges { node { name members(first: 1) { totalCount edges { node { email } } } } } } }`, nil), &listed)
	require.Equal(t, 1, listed.Teams.TotalCount)
	assert.Equal(t, 2, listed.Teams.Edges[0].Node.Members.TotalCount)
	assert.Equal(t, "ann@test.example", listed.Teams.Edges[0].Node.Members.Edges[0].Node.Email)

	var mine struct {
		Me struct{ Teams []struct{ Name string } }
	}
	data(two.Do(t, annToken, `{ me { teams { name } } }`, nil), &mine)
	assert.Equal(t, []struct{ Name string }{{"Platform"}}, mine.Me.Teams, "a member sees their own teams")
	assert.Equal(t, 0, func() int {
		var all struct{ Teams struct{ TotalCount int } }
		data(two.Do(t, two.Token(t, w.User("outsider@test.example")), `{ teams { totalCount } }`, nil), &all)
		return all.Teams.TotalCount
	}(), "no USER_READ, no team: nothing")

	testenv.MustOK(t, one.Do(t, admin, `mutation($t: ID!, $u: ID!) { removeTeamMember(teamId: $t, userId: $u) }`, map[string]any{"t": team, "u": id(ann)}))
	var removed me
	data(two.Do(t, annToken, canRead, map[string]any{"on": id(lander)}), &removed)
	assert.False(t, removed.Me.Can, "removed, on the other instance at once")

	var deleted struct{ DeleteTeam bool }
	data(one.Do(t, admin, `mutation($t: ID!) { deleteTeam(id: $t) }`, map[string]any{"t": team}), &deleted)
	assert.True(t, deleted.DeleteTeam)
	var bobAfter struct{ CheckAccess []bool }
	data(two.Do(t, admin, `query($u: ID!, $on: ID!) { checkAccess(checks: [{userId: $u, permission: PROJECT_READ, on: $on}]) }`,
		map[string]any{"u": id(bob), "on": id(lander)}), &bobAfter)
	assert.Equal(t, []bool{false}, bobAfter.CheckAccess)
}
