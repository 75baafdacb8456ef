package authz_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"

	"authz-gateway/access"
	"authz-gateway/apperr"
	"authz-gateway/authz"
	"authz-gateway/ent"
	"authz-gateway/internal/testenv"
	"authz-gateway/internal/workload"
	"authz-gateway/reqctx"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// accessorsOf pages through the accessors of on, first at a time, checking
// each page's total and page info, and returns every user's ID.
func accessorsOf(t *testing.T, svc *authz.Service, ctx context.Context, p access.Permission, on, first int) []int {
	t.Helper()
	var ids []int
	var after *ent.Cursor
	for pages := 0; ; pages++ {
		conn, err := svc.Accessors(ctx, p, on, first, after)
		require.NoError(t, err)
		for _, e := range conn.Edges {
			ids = append(ids, e.Node.ID)
		}
		require.LessOrEqual(t, len(conn.Edges), first)
		assert.Equal(t, after != nil, conn.PageInfo.HasPreviousPage)
		if !conn.PageInfo.HasNextPage {
			assert.Equal(t, len(ids), conn.TotalCount, "%s on %d: the total of every page", p, on)
			return ids
		}
		require.Less(t, pages, 1000)
		after = conn.PageInfo.EndCursor
	}
}

// TestAccessors_MatchBruteForce: on a generated catalog (fixed seed) with
// some users, roles and scopes deactivated, the accessors of every program
// and project, for every permission, are exactly the active users whose
// reach (resolved and checked as `can` checks them) allows it; pages of 3
// add up to the same; a page is one SQL statement.
func TestAccessors_MatchBruteForce(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	sys := reqctx.NewContextWithSystem(context.Background())
	data, err := workload.Build(sys, g.DB.Client, workload.Shape{Programs: 6, ProjectsPerProgram: 4, Global: 3, ProgramScoped: 20, Projects: 20})
	require.NoError(t, err)
	// Inactive grants and users count for nothing: deactivate some, before
	// any answer is cached.
	rng := rand.New(rand.NewPCG(workload.Seed, 23))
	for _, ra := range g.DB.Client.RoleAssignment.Query().AllX(sys) {
		if rng.IntN(8) == 0 {
			ra.Update().SetActive(false).ExecX(sys)
		}
	}
	for _, sa := range g.DB.Client.ScopeAssignment.Query().AllX(sys) {
		if rng.IntN(8) == 0 {
			sa.Update().SetActive(false).ExecX(sys)
		}
	}
	for _, u := range data.Users {
		if rng.IntN(10) == 0 {
			g.DB.Client.User.UpdateOneID(u).SetActive(false).ExecX(sys)
		}
	}
	users := append([]int{g.Admin.ID}, data.Users...)
	reaches := map[int]access.Reach{}
	for _, u := range users {
		reaches[u], err = g.Authz.Reach(sys, u)
		require.NoError(t, err)
	}
	objects := []access.Object{}
	for _, p := range data.Programs {
		objects = append(objects, access.Object{Kind: access.ProgramObject, ID: p})
	}
	for _, p := range data.Projects {
		objects = append(objects, access.Object{Kind: access.ProjectObject, ID: p})
	}
	admin := testenv.AsUser(g.Admin.ID)
	checked, largest := 0, 0
	var busiest access.Object
	for _, o := range objects {
		for _, p := range access.AllPermissions {
			var want []int
			for _, u := range users {
				if reaches[u].Allows(p, o) {
					want = append(want, u)
				}
			}
			slices.Sort(want)
			got := accessorsOf(t, g.Authz, admin, p, o.ID, 100)
			if !assert.Equal(t, want, got, "%s on %s %d", p, o.Kind, o.ID) {
				return
			}
			checked++
			if len(want) > largest && p == access.ProjectRead {
				largest, busiest = len(want), o
			}
		}
	}
	t.Logf("%d (object, permission) pairs checked against brute force", checked)

	// Pages of 3 add up to the whole.
	whole := accessorsOf(t, g.Authz, admin, access.ProjectRead, busiest.ID, 1000)
	require.Greater(t, len(whole), 6)
	assert.Equal(t, whole, accessorsOf(t, g.Authz, admin, access.ProjectRead, busiest.ID, 3))

	// One statement per page, the viewer's answers warm.
	_, err = g.Authz.Accessors(admin, access.ProjectRead, busiest.ID, 3, nil)
	require.NoError(t, err)
	g.SQL.Reset()
	_, err = g.Authz.Accessors(admin, access.ProjectRead, busiest.ID, 3, nil)
	require.NoError(t, err)
	assert.Equal(t, 1, g.SQL.Count(), "one statement per page: %v", g.SQL.Statements())
}

// TestAccessors_Refusals: without USER_READ it is FORBIDDEN; an object the
// viewer cannot read is NOT_FOUND, like one that does not exist.
func TestAccessors_Refusals(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	w := testenv.NewWorld(t, g.DB.Client)
	seen, hidden := w.Program("Seen"), w.Program("Hidden")
	reader := w.User("reader@test.example")
	w.Role(reader, access.RoleViewer)
	w.InProgram(reader, seen)
	_, err := g.Authz.Accessors(testenv.AsUser(reader), access.ProgramRead, seen, 10, nil)
	assert.Equal(t, apperr.Forbidden, apperr.CodeOf(err), "%v", err)

	manager := w.User("manager@test.example")
	w.Role(manager, access.RoleProjectManager)
	w.InProgram(manager, seen)
	conn, err := g.Authz.Accessors(testenv.AsUser(manager), access.ProgramRead, seen, 10, nil)
	require.NoError(t, err)
	assert.Equal(t, 3, conn.TotalCount, "the admin, the reader and the manager")
	_, err = g.Authz.Accessors(testenv.AsUser(manager), access.ProgramRead, hidden, 10, nil)
	assert.Equal(t, apperr.NotFound, apperr.CodeOf(err))
	_, err = g.Authz.Accessors(testenv.AsUser(manager), access.ProgramRead, hidden+1_000_000, 10, nil)
	assert.Equal(t, apperr.NotFound, apperr.CodeOf(err))
}
