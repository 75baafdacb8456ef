package httpapi_test

import (
	"fmt"
	"strings"
	"testing"

	"authz-gateway/access"
	"authz-gateway/internal/testenv"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestConnections_CountFromTheCache: a connection's totalCount is the
// viewer's cached list's length (what they may read of it), not a count of
// the rows in reach: warm, the page is the only statement, for every kind
// of viewer, and no statement counts (ent's Paginate counted every row in
// reach: 100,000 rows per request for a GLOBAL viewer at 100x). The counts
// are the same as the database's, for the viewer's own lists, for another
// user's as the viewer may see them, and for the top-level connections.
func TestConnections_CountFromTheCache(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	w := testenv.NewWorld(t, g.DB.Client)
	apollo, gemini := w.Program("Apollo"), w.Program("Gemini")
	lander := w.Project(apollo, "Lander")
	for i := range 4 {
		w.Project(apollo, fmt.Sprint("A", i))
	}
	for i := range 6 {
		w.Project(gemini, fmt.Sprint("G", i))
	}
	viewers := map[string]int{}
	for kind, scope := range map[string]func(int){
		"GLOBAL":  func(u int) { w.Global(u) },
		"PROGRAM": func(u int) { w.InProgram(u, apollo) },
		"PROJECT": func(u int) { w.InProject(u, lander) },
	} {
		u := w.User(strings.ToLower(kind) + "@test.example")
		w.Role(u, access.RoleViewer)
		scope(u)
		viewers[kind] = u
	}
	// Programs, projects: what each kind reaches.
	want := map[string][2]int{"GLOBAL": {2, 11}, "PROGRAM": {1, 5}, "PROJECT": {1, 1}}

	const mine = `{ me {
		accessibleProgramConnection(first: 1) { totalCount pageInfo { hasNextPage } edges { node { id } } }
		accessibleProjectConnection(first: 2) { totalCount pageInfo { hasNextPage } edges { node { id name } } } } }`
	const top = `{ programs(first: 1) { totalCount } projects(first: 2) { totalCount } }`
	type conn struct {
		TotalCount int
		PageInfo   struct{ HasNextPage bool }
		Edges      []struct{ Node struct{ ID string } }
	}
	for kind, u := range viewers {
		token := g.Token(t, u)
		testenv.MustOK(t, g.Do(t, token, mine, nil))
		g.SQL.Reset()
		var got struct {
			Me struct{ AccessibleProgramConnection, AccessibleProjectConnection conn }
		}
		testenv.MustOK(t, g.Do(t, token, mine, nil)).Decode(t, &got)
		assert.Equal(t, want[kind][0], got.Me.AccessibleProgramConnection.TotalCount, kind)
		assert.Equal(t, want[kind][1], got.Me.AccessibleProjectConnection.TotalCount, kind)
		assert.Equal(t, want[kind][1] > 2, got.Me.AccessibleProjectConnection.PageInfo.HasNextPage, kind)
		assert.Len(t, got.Me.AccessibleProjectConnection.Edges, min(2, want[kind][1]), kind)
		for _, stmt := range g.SQL.Statements() {
			assert.NotContains(t, strings.ToLower(stmt), "count(", "%s: nothing counts", kind)
		}
		assert.Equal(t, 2, g.SQL.Count(), "%s: the two pages and nothing else: %v", kind, g.SQL.Statements())

		var tops struct{ Programs, Projects conn }
		testenv.MustOK(t, g.Do(t, token, top, nil)).Decode(t, &tops)
		assert.Equal(t, want[kind], [2]int{tops.Programs.TotalCount, tops.Projects.TotalCount}, kind)
		// pageInfo without edges still knows there is more.
		if want[kind][1] > 1 {
			testenv.MustOK(t, g.Do(t, token, `{ projects(first: 1) { pageInfo { hasNextPage } } }`, nil)).Decode(t, &tops)
			assert.True(t, tops.Projects.PageInfo.HasNextPage, kind)
		}
	}

	// Another user's list as the viewer may see it: the PROGRAM viewer
	// reads the GLOBAL user's, and sees Apollo's projects only.
	var other struct {
		Node struct {
			AccessibleProjectConnection struct{ TotalCount int }
		}
	}
	q := `query($id: ID!) { node(id: $id) { ... on User { accessibleProjectConnection(first: 1) { totalCount } } } }`
	res := g.Do(t, g.Token(t, viewers["PROGRAM"]), q, map[string]any{"id": fmt.Sprint(viewers["GLOBAL"])})
	if len(res.Errors) == 0 {
		res.Decode(t, &other)
		assert.Equal(t, 5, other.Node.AccessibleProjectConnection.TotalCount)
	} else {
		require.Contains(t, res.Codes(), "NOT_FOUND", "the GLOBAL user is out of the PROGRAM viewer's reach")
	}
	testenv.MustOK(t, g.Do(t, g.Token(t, g.Admin.ID), q, map[string]any{"id": fmt.Sprint(viewers["PROGRAM"])})).Decode(t, &other)
	assert.Equal(t, 5, other.Node.AccessibleProjectConnection.TotalCount, "the admin sees the PROGRAM user's")
}
