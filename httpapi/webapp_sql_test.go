package httpapi_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"authz-gateway/internal/testenv"
	"authz-gateway/internal/workload"
	"authz-gateway/reqctx"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The example web app's documents, warm, for each viewer kind: how many
// SQL statements each costs once its answers are cached (docs/performance.md,
// "The web app's documents"). The counts are exact: a change that adds a
// statement to a warm read fails here.
func TestWarm_WebAppDocumentsSQL(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	shape := workload.Shape{Programs: 6, ProjectsPerProgram: 5, Global: 2, ProgramScoped: 6, Projects: 6}
	data, err := workload.Build(reqctx.NewContextWithSystem(context.Background()), g.DB.Client, shape)
	require.NoError(t, err)
	// Me and Checks come from the cached answers alone. A page costs its own
	// statement (ProjectsPage one more for the programs it names); "why?"
	// reads the viewer's assignment rows, roles, the project and the user
	// afresh (its answer names them), and a scoped viewer's also the
	// object's program or project through the privacy rules.
	// A team member's "why?" reads the team's grants and names the team (3
	// statements more).
	want := map[string]int{"Me": 0, "Checks": 0, "ProgramsPage": 1, "ProjectsPage": 2, "WhyWrite": 7, "global WhyWrite": 6, "team WhyWrite": 10}
	// A member of a team: a PROJECT-scoped user whose role and scopes are
	// moved to a team of their own, which they join. The same documents
	// cost the same: a member's answers are cached like anyone's.
	member := data.UsersOf("project")[1]
	ctx := reqctx.NewContextWithSystem(context.Background())
	team := g.DB.Client.Team.Create().SetName("Movers").SaveX(ctx)
	for _, table := range []string{"role_assignments", "scope_assignments"} {
		_, err := g.DB.Client.ExecContext(ctx, "UPDATE "+table+" SET team_id = $1, user_id = NULL WHERE user_id = $2", team.ID, member)
		require.NoError(t, err)
	}
	g.DB.Client.TeamMembership.Create().SetTeamID(team.ID).SetUserID(member).ExecX(ctx)
	var table strings.Builder
	for _, kind := range []string{"global", "program", "project", "team"} {
		user := member
		if kind != "team" {
			user = data.UsersOf(kind)[0]
		}
		token := g.Token(t, user)
		for _, r := range data.WebAppReads(user) {
			testenv.MustOK(t, g.Do(t, token, r.Query, r.Variables)) // cold: fills the cache
			g.SQL.Reset()
			answer := testenv.MustOK(t, g.Do(t, token, r.Query, r.Variables))
			if r.Check != nil {
				require.NoError(t, r.Check(answer.Data), "%s viewer, %s", kind, r.Name)
			}
			fmt.Fprintf(&table, "%s viewer, %s: %d warm statements %v\n", kind, r.Name, g.SQL.Count(), g.SQL.Statements())
			expected, special := want[kind+" "+r.Name]
			if !special {
				expected = want[r.Name]
			}
			assert.Equal(t, expected, g.SQL.Count(), "%s viewer, %s, warm: %v", kind, r.Name, g.SQL.Statements())
		}
	}
	t.Log("\n" + table.String())
}
