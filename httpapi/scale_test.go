package httpapi_test

import (
	"context"
	"fmt"
	"testing"

	"authz-gateway/access"
	"authz-gateway/ent"
	"authz-gateway/internal/testenv"
	"authz-gateway/reqctx"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A PROGRAM-scoped user whose program holds 70,000 projects got INTERNAL on
// projects(first:1){totalCount} and accessibleProjects{name}: one SQL
// parameter per reachable project, past PostgreSQL's 65,535 (issue 11).
func TestScale_ProgramOf70000Projects(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 70,000 projects")
	}
	g := testenv.NewGateway(t, testenv.Options{})
	w := testenv.NewWorld(t, g.DB.Client)
	big := w.Program("Big")
	ctx := reqctx.NewContextWithSystem(context.Background())
	const n = 70_000
	for start := 0; start < n; start += 5000 {
		batch := make([]*ent.ProjectCreate, 5000)
		for i := range batch {
			batch[i] = g.DB.Client.Project.Create().SetName(fmt.Sprintf("p%06d", start+i)).SetProgramID(big)
		}
		require.NoError(t, g.DB.Client.Project.CreateBulk(batch...).Exec(ctx))
	}
	u := w.User("big@test.example")
	w.Role(u, access.RoleViewer)
	w.InProgram(u, big)
	token := g.Token(t, u)

	var page struct {
		Projects struct {
			TotalCount int
			PageInfo   struct{ HasNextPage bool }
		}
	}
	testenv.MustOK(t, g.Do(t, token, `{ projects(first: 1) { totalCount pageInfo { hasNextPage } } }`, nil)).Decode(t, &page)
	assert.Equal(t, n, page.Projects.TotalCount)
	assert.True(t, page.Projects.PageInfo.HasNextPage)

	var me struct {
		Me struct {
			AccessibleProjects []struct{ Name string }
			ScopeSummary       struct{ AccessibleProjectCount int }
		}
	}
	testenv.MustOK(t, g.Do(t, token, `{ me { accessibleProjects { name } scopeSummary { accessibleProjectCount } } }`, nil)).Decode(t, &me)
	assert.Len(t, me.Me.AccessibleProjects, n)
	assert.Equal(t, n, me.Me.ScopeSummary.AccessibleProjectCount)

	// Or a page at a time, as a connection.
	var conn struct {
		Me struct {
			AccessibleProjectConnection struct {
				TotalCount int
				Edges      []struct{ Node struct{ Name string } }
				PageInfo   struct {
					HasNextPage bool
					EndCursor   string
				}
			}
		}
	}
	q := `query($after: Cursor) { me { accessibleProjectConnection(first: 1000, after: $after, orderBy: {field: NAME}) {
		totalCount edges { node { name } } pageInfo { hasNextPage endCursor } } } }`
	testenv.MustOK(t, g.Do(t, token, q, nil)).Decode(t, &conn)
	page1 := conn.Me.AccessibleProjectConnection
	assert.Equal(t, n, page1.TotalCount)
	require.Len(t, page1.Edges, 1000)
	assert.Equal(t, "p000000", page1.Edges[0].Node.Name)
	testenv.MustOK(t, g.Do(t, token, q, map[string]any{"after": page1.PageInfo.EndCursor})).Decode(t, &conn)
	assert.Equal(t, "p001000", conn.Me.AccessibleProjectConnection.Edges[0].Node.Name)
}
