package httpapi_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"authz-gateway/app"
	"authz-gateway/auth"
	"authz-gateway/authz"
	"authz-gateway/ent/accesschange"
	"authz-gateway/ent/user"
	"authz-gateway/internal/idp"
	"authz-gateway/internal/testenv"
	"authz-gateway/reqctx"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// groupsWorld is a gateway whose provider's groups claim decides the
// memberships of teams mirroring a group: "platform" (a PROJECT scope on
// Lander and VIEWER) and "ops" (nothing yet), and ann, who is in neither.
type groupsWorld struct {
	g       *testenv.Gateway
	admin   string
	lander  string
	syncOps func() int
}

func newGroupsWorld(t *testing.T, ip app.IdentityProvider) groupsWorld {
	t.Helper()
	ip.GroupsClaim = "groups"
	g := testenv.NewGateway(t, testenv.Options{RateLimit: testenv.ProductionRateLimit(), Identity: ip})
	w := testenv.NewWorld(t, g.DB.Client)
	lander := w.Project(w.Program("Apollo"), "Lander")
	w.User("ann@test.example")
	admin := g.Token(t, g.Admin.ID)
	var team struct{ CreateTeam struct{ ID string } }
	testenv.MustOK(t, g.Do(t, admin, `mutation { createTeam(input: {name: "Platform", externalGroup: "platform"}) { id } }`, nil)).Decode(t, &team)
	testenv.MustOK(t, g.Do(t, admin, `mutation($t: ID!) { assignTeamRole(teamId: $t, role: VIEWER) { id } }`, map[string]any{"t": team.CreateTeam.ID}))
	testenv.MustOK(t, g.Do(t, admin, `mutation($t: ID!, $p: ID!) { assignScope(input: {teamId: $t, scopeType: PROJECT, projectId: $p}) { id } }`,
		map[string]any{"t": team.CreateTeam.ID, "p": strconv.Itoa(lander)}))
	testenv.MustOK(t, g.Do(t, admin, `mutation { createTeam(input: {name: "Ops", externalGroup: "ops"}) { id } }`, nil))
	return groupsWorld{g: g, admin: admin, lander: strconv.Itoa(lander), syncOps: func() int {
		n, err := g.DB.Client.AccessChange.Query().Where(accesschange.Operation("syncTeamGroups"), accesschange.ActorIDIsNil()).
			Count(reqctx.NewContextWithSystem(t.Context()))
		require.NoError(t, err)
		return n
	}}
}

type groupsAnswer struct {
	Me struct {
		Can   bool
		Teams []struct{ Name string }
	}
}

func (gw groupsWorld) ask(t *testing.T, token string) groupsAnswer {
	t.Helper()
	var got groupsAnswer
	testenv.MustOK(t, gw.g.Do(t, token, `query($p: ID!) { me { can(permission: PROJECT_READ, on: $p) teams { name } } }`,
		map[string]any{"p": gw.lander})).Decode(t, &got)
	return got
}

func teamNames(a groupsAnswer) string {
	var names []string
	for _, t := range a.Me.Teams {
		names = append(names, t.Name)
	}
	return strings.Join(names, ",")
}

// TestGroups_TheProvidersGroupsDecideTeamMemberships, with the in-process
// provider: a token's groups make its holder a member of the teams that
// mirror them (a group no team mirrors is ignored), as a logged write by
// the gateway; the same claim again writes nothing and runs no SQL; a
// group dropped from the claim ends the membership with the next token; a
// token without the claim changes nothing; a malformed claim is refused.
func TestGroups_TheProvidersGroupsDecideTeamMemberships(t *testing.T) {
	provider, err := idp.New()
	require.NoError(t, err)
	t.Cleanup(provider.Close)
	gw := newGroupsWorld(t, app.IdentityProvider{Issuer: provider.Issuer(), Audience: idp.Audience, UserClaim: auth.ClaimEmail})
	token := func(claims map[string]any) string {
		tok, err := provider.TokenWith("ann@test.example", time.Hour, claims)
		require.NoError(t, err)
		return tok
	}

	assert.False(t, gw.ask(t, token(nil)).Me.Can, "no groups claim: no team")
	assert.Zero(t, gw.syncOps())

	member := token(map[string]any{"groups": []string{"platform", "not-a-team"}})
	got := gw.ask(t, member)
	assert.True(t, got.Me.Can, "a member of Platform through the group")
	assert.Equal(t, "Platform", teamNames(got))
	assert.Equal(t, 1, gw.syncOps(), "one logged write, by the gateway")

	// The same groups in another order, twice: the first request warms
	// the token's verification; the second is counted. (me.teams reads
	// the memberships: the check alone is asked.)
	again := token(map[string]any{"groups": []string{"not-a-team", "platform", "platform"}})
	check := `query($p: ID!) { me { can(permission: PROJECT_READ, on: $p) } }`
	testenv.MustOK(t, gw.g.Do(t, again, check, map[string]any{"p": gw.lander}))
	gw.g.SQL.Reset()
	var checked groupsAnswer
	testenv.MustOK(t, gw.g.Do(t, again, check, map[string]any{"p": gw.lander})).Decode(t, &checked)
	assert.True(t, checked.Me.Can)
	assert.Equal(t, 1, gw.syncOps(), "an equal claim writes nothing")
	assert.Zero(t, gw.g.SQL.Count(), "and runs no SQL: %v", gw.g.SQL.Statements())

	both := gw.ask(t, token(map[string]any{"groups": []string{"ops", "platform"}}))
	assert.Equal(t, "Platform,Ops", teamNames(both))
	assert.Equal(t, 2, gw.syncOps())

	left := gw.ask(t, token(map[string]any{"groups": []string{}}))
	assert.False(t, left.Me.Can, "out of the group: out of the team, with the next token")
	assert.Empty(t, left.Me.Teams)

	assert.False(t, gw.ask(t, token(nil)).Me.Can, "no claim changes nothing")
	assert.Equal(t, []string{"UNAUTHENTICATED"}, gw.g.Do(t, token(map[string]any{"groups": "platform"}),
		`{ me { id } }`, nil).Codes(), "a groups claim that is not a list")

	// A team pointed at the group later picks the member up on the next
	// token (the mirrored groups are part of the catalog's answer).
	var changed struct{ CreateTeam struct{ ID string } }
	testenv.MustOK(t, gw.g.Do(t, gw.admin, `mutation { createTeam(input: {name: "Newcomers", externalGroup: "not-a-team"}) { id } }`, nil)).Decode(t, &changed)
	assert.Equal(t, "Platform,Newcomers", teamNames(gw.ask(t, member)))

	// A user in as many teams as a user may be in: a new group's team is
	// skipped, and no request writes an entry for it.
	w := testenv.NewWorld(t, gw.g.DB.Client)
	ann := gw.g.DB.Client.User.Query().Where(user.Email("ann@test.example")).OnlyIDX(reqctx.NewContextWithSystem(t.Context()))
	for i := range authz.MaxTeamsPerUser {
		w.Member(w.Team(fmt.Sprintf("Crowd %d", i)), ann)
	}
	testenv.MustOK(t, gw.g.Do(t, gw.admin, `mutation { createTeam(input: {name: "Overflow", externalGroup: "overflow"}) { id } }`, nil))
	before := gw.syncOps()
	overflow := token(map[string]any{"groups": []string{"not-a-team", "overflow", "platform"}})
	for range 2 {
		assert.NotContains(t, teamNames(gw.ask(t, overflow)), "Overflow", "past the bound, the new team is skipped")
	}
	assert.Equal(t, before, gw.syncOps(), "and nothing is written for it, request after request")
}

// TestGroups_FromHydra: the same with a real provider's access tokens
// (Ory Hydra, a static groups claim set at consent), a person signed in by
// email.
func TestGroups_FromHydra(t *testing.T) {
	hydra := testenv.StartHydra(t)
	web := hydra.CreateClient(t, "web-app", audience)
	gw := newGroupsWorld(t, app.IdentityProvider{Issuer: hydra.Issuer, Audience: audience, UserClaim: auth.ClaimEmail})
	token := func(groups []string) string {
		return hydra.UserTokenClaims(t, web, audience, "ann", map[string]any{
			"email": "ann@test.example", "email_verified": true, "name": "Ann", "groups": groups})
	}
	got := gw.ask(t, token([]string{"platform"}))
	assert.True(t, got.Me.Can)
	assert.Equal(t, "Platform", teamNames(got))
	assert.Equal(t, 1, gw.syncOps())
	left := gw.ask(t, token([]string{"ops"}))
	assert.False(t, left.Me.Can, "removed with the next token")
	assert.Equal(t, "Ops", teamNames(left))
	assert.Equal(t, 2, gw.syncOps())
}
