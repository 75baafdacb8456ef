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
}
