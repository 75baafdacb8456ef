package httpapi_test

import (
	"context"
	"fmt"
	"testing"

	"authz-gateway/access"
	"authz-gateway/internal/testenv"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// checkWorld: programs A and B, projects a1 (in A) and b1 (in B); lead
// manages project a1 only, pm manages program A.
type checkWorld struct {
	g                *testenv.Gateway
	A, B, a1, b1     int
	lead, pm, viewer int
}

func newCheckWorld(t *testing.T, opts ...testenv.Options) checkWorld {
	var o testenv.Options
	if len(opts) > 0 {
		o = opts[0]
	}
	g := testenv.NewGateway(t, o)
	w := testenv.NewWorld(t, g.DB.Client)
	c := checkWorld{g: g}
	c.A, c.B = w.Program("A"), w.Program("B")
	c.a1, c.b1 = w.Project(c.A, "a1"), w.Project(c.B, "b1")
	c.lead = w.User("lead@test.example")
	w.Role(c.lead, access.RoleProjectManager)
	w.InProject(c.lead, c.a1)
	c.pm = w.User("pm@test.example")
	w.Role(c.pm, access.RoleProgramManager)
	w.InProgram(c.pm, c.A)
	c.viewer = w.User("viewer@test.example")
	w.Role(c.viewer, access.RoleViewer)
	w.InProgram(c.viewer, c.A)
	return c
}

func TestCan_ReadAndWriteReach(t *testing.T) {
	c := newCheckWorld(t)
	ask := func(user int, perm string, on int) []string {
		var out struct{ Me struct{ Can bool } }
		r := c.g.Do(t, c.g.Token(t, user), `query($p: Permission!, $on: ID!) { me { can(permission: $p, on: $on) } }`,
			map[string]any{"p": perm, "on": fmt.Sprint(on)})
		if len(r.Errors) > 0 {
			return r.Codes()
		}
		r.Decode(t, &out)
		return []string{fmt.Sprint(out.Me.Can)}
	}
	for _, tc := range []struct {
		user int
		perm string
		on   int
		want string
	}{
		{c.lead, "PROJECT_WRITE", c.a1, "true"},
		{c.lead, "PROGRAM_READ", c.A, "true"},          // a PROJECT scope shows the parent...
		{c.lead, "PROJECT_WRITE", c.A, "false"},        // ...but gives no write on it
		{c.lead, "PROJECT_READ", c.b1, "false"},        // unreadable: false, and me stays
		{c.lead, "PROJECT_READ", c.b1 + 1000, "false"}, // missing: the same answer
		{c.pm, "PROJECT_WRITE", c.a1, "true"},
		{c.pm, "PROGRAM_WRITE", c.A, "true"},
		{c.viewer, "PROJECT_WRITE", c.a1, "false"},             // no such permission
		{c.viewer, "PROJECT_READ", c.viewer, "BAD_USER_INPUT"}, // a user is no object
	} {
		assert.Equal(t, []string{tc.want}, ask(tc.user, tc.perm, tc.on), "%d %s %d", tc.user, tc.perm, tc.on)
	}
}

// TestCan_WarmIsZeroSQL: a warm check runs no SQL; its answers come from the
// L1, or with the L1 off from one Redis round trip.
func TestCan_WarmIsZeroSQL(t *testing.T) {
	for _, tc := range []struct {
		name  string
		noL1  bool
		trips int
	}{{"L1", false, 0}, {"Redis only", true, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCheckWorld(t, testenv.Options{NoL1: tc.noL1})
			token := c.g.Token(t, c.pm)
			q := fmt.Sprintf(`{ me { can(permission: PROJECT_READ, on: "%d") } }`, c.a1)
			testenv.MustOK(t, c.g.Do(t, token, q, nil))
			c.g.SQL.Reset()
			c.g.Trips.Reset()
			r := testenv.MustOK(t, c.g.Do(t, token, q, nil))
			assert.JSONEq(t, `{"me": {"can": true}}`, string(r.Data))
			assert.Zero(t, c.g.SQL.Count(), "%v", c.g.SQL.Statements())
			assert.Equal(t, tc.trips, c.g.Trips.Trips())
		})
	}
}

// A GLOBAL viewer keeps no lists: the object's existence comes from the
// L1's catalog facts once known (no SQL), and a deletion on another
// instance makes the check false as soon as the deletion returns.
func TestCan_GlobalViewerWarmIsZeroSQLAndSeesDeletions(t *testing.T) {
	c := newCheckWorld(t)
	two := testenv.NewGateway(t, testenv.Options{DatabaseURL: c.g.DatabaseURL, Prefix: c.g.Prefix()})
	token := two.Token(t, two.Admin.ID)
	q := fmt.Sprintf(`{ me { can(permission: PROJECT_READ, on: "%d") } }`, c.a1)
	testenv.MustOK(t, two.Do(t, token, q, nil))
	two.SQL.Reset()
	two.Trips.Reset()
	r := testenv.MustOK(t, two.Do(t, token, q, nil))
	assert.JSONEq(t, `{"me": {"can": true}}`, string(r.Data))
	assert.Zero(t, two.SQL.Count(), "%v", two.SQL.Statements())
	assert.Zero(t, two.Trips.Trips())

	_, err := c.g.Authz.DeleteProject(testenv.AsUser(c.g.Admin.ID), c.a1)
	require.NoError(t, err)
	assert.JSONEq(t, `{"me": {"can": false}}`, string(testenv.MustOK(t, two.Do(t, token, q, nil)).Data),
		"a deleted object: false, as for one never created")
}

func TestCheckAccess_Batch(t *testing.T) {
	c := newCheckWorld(t)
	admin := c.g.Token(t, c.g.Admin.ID)
	checks := []map[string]any{
		{"userId": fmt.Sprint(c.lead), "permission": "PROJECT_WRITE", "on": fmt.Sprint(c.a1)},
		{"userId": fmt.Sprint(c.lead), "permission": "PROJECT_WRITE", "on": fmt.Sprint(c.b1)},
		{"userId": fmt.Sprint(c.pm), "permission": "PROGRAM_WRITE", "on": fmt.Sprint(c.A)},
		{"userId": fmt.Sprint(c.viewer), "permission": "PROGRAM_WRITE", "on": fmt.Sprint(c.A)},
	}
	var out struct{ CheckAccess []bool }
	testenv.MustOK(t, c.g.Do(t, admin, `query($c: [AccessCheckInput!]!) { checkAccess(checks: $c) }`,
		map[string]any{"c": checks})).Decode(t, &out)
	assert.Equal(t, []bool{true, false, true, false}, out.CheckAccess)

	// Another user's access needs USER_READ; objects must be readable.
	r := c.g.Do(t, c.g.Token(t, c.viewer), `query($c: [AccessCheckInput!]!) { checkAccess(checks: $c) }`,
		map[string]any{"c": checks[2:3]})
	assert.Equal(t, []string{"FORBIDDEN"}, r.Codes())
	r = c.g.Do(t, c.g.Token(t, c.pm), `query($c: [AccessCheckInput!]!) { checkAccess(checks: $c) }`,
		map[string]any{"c": checks[1:2]})
	assert.Equal(t, []string{"NOT_FOUND"}, r.Codes(), "b1 is out of pm's reach")
}

func TestExplainAccess(t *testing.T) {
	c := newCheckWorld(t)
	admin := c.g.Token(t, c.g.Admin.ID)
	type explanation struct {
		ExplainAccess struct {
			Allowed bool
			Roles   []struct{ Role struct{ Type string } }
			Scopes  []struct{ ScopeType string }
			Missing []string
		}
	}
	q := `query($u: ID!, $p: Permission!, $on: ID!) { explainAccess(userId: $u, permission: $p, on: $on) {
		allowed roles { role { type } } scopes { scopeType } missing } }`
	var yes explanation
	testenv.MustOK(t, c.g.Do(t, admin, q, map[string]any{"u": fmt.Sprint(c.pm), "p": "PROJECT_WRITE", "on": fmt.Sprint(c.a1)})).Decode(t, &yes)
	assert.True(t, yes.ExplainAccess.Allowed)
	require.Len(t, yes.ExplainAccess.Roles, 1)
	assert.Equal(t, "PROGRAM_MANAGER", yes.ExplainAccess.Roles[0].Role.Type)
	assert.Equal(t, []struct{ ScopeType string }{{"PROGRAM"}}, yes.ExplainAccess.Scopes)
	assert.Empty(t, yes.ExplainAccess.Missing)

	var no explanation
	testenv.MustOK(t, c.g.Do(t, admin, q, map[string]any{"u": fmt.Sprint(c.lead), "p": "PROJECT_WRITE", "on": fmt.Sprint(c.b1)})).Decode(t, &no)
	assert.False(t, no.ExplainAccess.Allowed)
	assert.Len(t, no.ExplainAccess.Roles, 1, "the role grants the permission...")
	assert.Empty(t, no.ExplainAccess.Scopes, "...but no scope reaches b1")
	assert.Equal(t, []string{fmt.Sprintf("an active scope with project %d in its write reach", c.b1)}, no.ExplainAccess.Missing)
}

// Issue 17, finding 7: checks about users who do not exist are NOT_FOUND,
// and nothing about them is computed or stored (1,000 made-up IDs per call
// once filled Redis with their empty answers for an hour).
func TestCheckAccess_UnknownUsersAreNotFoundAndNeverCached(t *testing.T) {
	c := newCheckWorld(t)
	token := c.g.Token(t, c.pm) // USER_READ, as every manager role has
	keys := func() int {
		n, err := c.g.Redis.Keys(context.Background(), c.g.Prefix()+"*").Result()
		require.NoError(t, err)
		return len(n)
	}
	testenv.MustOK(t, c.g.Do(t, token, `{ me { id } }`, nil))
	before := keys()
	checks := make([]map[string]any, 1000)
	for i := range checks {
		checks[i] = map[string]any{"userId": fmt.Sprint(c.viewer + 100_000 + i), "permission": "PROJECT_READ", "on": fmt.Sprint(c.a1)}
	}
	r := c.g.Do(t, token, `query($c: [AccessCheckInput!]!) { checkAccess(checks: $c) }`, map[string]any{"c": checks})
	assert.Equal(t, []string{"NOT_FOUND"}, r.Codes())
	assert.Contains(t, r.Errors[0].Message, "checks[0]: user not found")
	assert.Equal(t, before, keys(), "no key stored for made-up users")

	// A known user among them is answered once the others are gone.
	checks[0]["userId"] = fmt.Sprint(c.lead)
	var out struct{ CheckAccess []bool }
	testenv.MustOK(t, c.g.Do(t, token, `query($c: [AccessCheckInput!]!) { checkAccess(checks: $c) }`,
		map[string]any{"c": checks[:1]})).Decode(t, &out)
	assert.Equal(t, []bool{true}, out.CheckAccess)
}
