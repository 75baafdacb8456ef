package httpapi_test

import (
	"fmt"
	"testing"

	"authz-gateway/access"
	"authz-gateway/internal/testenv"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAccessors_GraphQL: "who can access this project?" through the API,
// paged with the connection's cursors; refused without USER_READ.
func TestAccessors_GraphQL(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	w := testenv.NewWorld(t, g.DB.Client)
	apollo := w.Program("Apollo")
	lander := w.Project(apollo, "Lander")
	writer := w.User("writer@test.example")
	w.Role(writer, access.RoleProjectManager)
	w.InProject(writer, lander)
	reader := w.User("reader@test.example")
	w.Role(reader, access.RoleViewer)
	w.InProgram(reader, apollo)
	const query = `query($id: ID!, $p: Permission!, $after: Cursor) { node(id: $id) { ... on Project {
		accessors(permission: $p, first: 1, after: $after) { totalCount edges { node { email } } pageInfo { hasNextPage endCursor } } } } }`
	type page struct {
		Node struct {
			Accessors struct {
				TotalCount int
				Edges      []struct{ Node struct{ Email string } }
				PageInfo   struct {
					HasNextPage bool
					EndCursor   *string
				}
			}
		}
	}
	emails := func(token string, p access.Permission) []string {
		var out []string
		var after *string
		for {
			var got page
			testenv.MustOK(t, g.Do(t, token, query, map[string]any{"id": fmt.Sprint(lander), "p": p, "after": after})).Decode(t, &got)
			a := got.Node.Accessors
			for _, e := range a.Edges {
				out = append(out, e.Node.Email)
			}
			if !a.PageInfo.HasNextPage {
				assert.Equal(t, len(out), a.TotalCount)
				return out
			}
			after = a.PageInfo.EndCursor
		}
	}
	admin := g.Token(t, g.Admin.ID)
	assert.Equal(t, []string{testenv.AdminEmail, "writer@test.example", "reader@test.example"}, emails(admin, access.ProjectRead))
	assert.Equal(t, []string{testenv.AdminEmail, "writer@test.example"}, emails(admin, access.ProjectWrite), "VIEWER does not write")
	// The writer (PROJECT_MANAGER holds USER_READ) asks about their project.
	assert.Equal(t, []string{testenv.AdminEmail, "writer@test.example"}, emails(g.Token(t, writer), access.ProjectWrite))
	// The reader lacks USER_READ.
	r := g.Do(t, g.Token(t, reader), query, map[string]any{"id": fmt.Sprint(lander), "p": "PROJECT_READ"})
	require.NotEmpty(t, r.Errors)
	assert.Equal(t, []string{"FORBIDDEN"}, r.Codes())
}
