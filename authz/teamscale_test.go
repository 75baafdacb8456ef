package authz_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"authz-gateway/access"
	"authz-gateway/answers"
	"authz-gateway/authz"
	"authz-gateway/internal/testenv"
	"authz-gateway/reqctx"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// teamFanOutMembers is the team size of the fan-out measurement.
const teamFanOutMembers = 10_000

// TestTeams_AGrantToTenThousandMembers measures a write that reaches a
// team of 10,000 members, in the production configuration (two instances,
// each with its L1, over one PostgreSQL and one Redis): the grant's
// latency, the work the write does (SQL statements, Redis round trips),
// and, at once after it returns, a read of every member on the other
// instance, whose L1 held every member's old answer: 0 stale, for the
// grant and for the revoke. Figures go to the log (docs/performance.md,
// "Teams").
func TestTeams_AGrantToTenThousandMembers(t *testing.T) {
	testenv.Slow(t, "10,000 members, each read on two instances")
	one := testenv.NewGateway(t, testenv.Options{})
	two := testenv.NewGateway(t, testenv.Options{DatabaseURL: one.DatabaseURL, Prefix: one.Prefix()})
	w := testenv.NewWorld(t, one.DB.Client)
	program := w.Program("Apollo")
	lander := w.Project(program, "Lander")
	admin := testenv.AsUser(one.Admin.ID)
	team := newTeam(t, one.Authz, admin, "Everyone")
	_, err := one.Authz.AssignScope(admin, authz.ScopeInput{TeamID: team, ScopeType: access.ScopeProgram, ProgramID: &program})
	require.NoError(t, err)
	members := bulkMembers(t, one, team, teamFanOutMembers)

	// Every member's answers are in the other instance's L1: no PROJECT_READ.
	readAll(t, two, members)
	stale := func(want bool) int {
		n := 0
		for u, r := range readAll(t, two, members) {
			if r.Allows(access.ProjectRead, access.Object{Kind: access.ProjectObject, ID: lander}) != want {
				n++
				if n == 1 {
					t.Logf("stale: member %d", u)
				}
			}
		}
		return n
	}
	require.Zero(t, stale(false))

	// The write's own statements, and the log's and the fleet's beside
	// them (the testenv counter keeps those apart: they are mostly
	// background work, but a write's entry and its affected users are
	// among them).
	measure := func(write func() error) (took time.Duration, statements, logStatements, trips int) {
		one.SQL.Reset()
		one.Trips.Reset()
		start := time.Now()
		require.NoError(t, write())
		return time.Since(start), one.SQL.Count(), len(one.SQL.Background()), one.Trips.Trips()
	}
	grantTook, grantSQL, grantLog, grantTrips := measure(func() error {
		_, err := one.Authz.AssignTeamRole(admin, team, access.RoleViewer, nil)
		return err
	})
	readStart := time.Now()
	assert.Zero(t, stale(true), "after the grant returned, every member on the other instance")
	readTook := time.Since(readStart)
	readAll(t, two, members) // warm again
	revokeTook, revokeSQL, _, revokeTrips := measure(func() error {
		_, err := one.Authz.RemoveTeamRole(admin, team, access.RoleViewer)
		return err
	})
	assert.Zero(t, stale(false), "after the revoke returned, every member on the other instance")
	t.Logf("team of %d: grant %v (%d SQL statements, %d of the log and the fleet, %d Redis round trips), revoke %v (%d statements, %d round trips); "+
		"reading every member on the other instance right after: %v",
		len(members), grantTook.Round(time.Millisecond), grantSQL, grantLog, grantTrips, revokeTook.Round(time.Millisecond), revokeSQL, revokeTrips,
		readTook.Round(time.Millisecond))
	// The write's work grows with the team in commands, not in round
	// trips per member: the members are invalidated a thousand a pipeline
	// (10 round trips) and recorded a thousand a statement. The counters
	// see the instance's background work too (the fleet's renewals, the
	// store's position), which grows with the write's duration on a loaded
	// machine: the bound is "nothing per member".
	assert.Less(t, grantTrips, len(members)/100, "Redis round trips of the grant: none per member")
	assert.Less(t, grantSQL, len(members)/100, "SQL statements of the grant (the log's aside): none per member")

	// A member's warm request runs no SQL and no Redis round trip (once
	// the store is trusted: a delivery that failed on a loaded machine
	// makes the instance bypass it until a global invalidation succeeds).
	g := two
	token := g.Token(t, members[0])
	query := `{ me { permissions accessibleProjectIds } }`
	require.Eventually(t, func() bool {
		testenv.MustOK(t, g.Do(t, token, query, nil))
		g.SQL.Reset()
		g.Trips.Reset()
		testenv.MustOK(t, g.Do(t, token, query, nil))
		return g.SQL.Count() == 0 && g.Trips.Trips() == 0
	}, 10*time.Second, 100*time.Millisecond, "a member's warm request runs no SQL and no round trip")
}

// bulkMembers creates n users, members of team, in a few statements.
func bulkMembers(t *testing.T, g *testenv.Gateway, team, n int) []int {
	t.Helper()
	ctx := reqctx.NewContextWithSystem(context.Background())
	_, err := g.DB.Client.ExecContext(ctx, `INSERT INTO users (email, name, active)
		SELECT 'member' || i || '@test.example', 'Member ' || i, true FROM generate_series(1, $1) AS i`, n)
	require.NoError(t, err)
	_, err = g.DB.Client.ExecContext(ctx, `INSERT INTO team_memberships (team_id, user_id, active, expire_logged)
		SELECT $1, id, true, false FROM users WHERE email LIKE 'member%@test.example'`, team)
	require.NoError(t, err)
	_, err = g.DB.Client.ExecContext(ctx, `ANALYZE`)
	require.NoError(t, err)
	ids, err := g.DB.Client.TeamMembership.Query().Select("user_id").Ints(ctx)
	require.NoError(t, err)
	require.Len(t, ids, n)
	slices.Sort(ids)
	return ids
}

// readAll reads every user's four answers on g, in batches of 500 users,
// as a request's loaders would.
func readAll(t *testing.T, g *testenv.Gateway, users []int) map[int]access.Reach {
	t.Helper()
	out := make(map[int]access.Reach, len(users))
	for batch := range slices.Chunk(users, 500) {
		var keys []answers.Key
		for _, u := range batch {
			keys = append(keys, answers.ReachKeys(u)...)
		}
		got, err := g.Answers.Answers(context.Background(), keys)
		require.NoError(t, err, fmt.Sprintf("batch from %d", batch[0]))
		for _, u := range batch {
			out[u] = answers.ReachFromAnswers(u, got)
		}
	}
	return out
}
