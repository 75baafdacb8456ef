package httpapi_test

import (
	"fmt"
	"testing"

	"authz-gateway/access"
	"authz-gateway/internal/testenv"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type auditPage struct {
	AccessChanges struct {
		TotalCount int
		Edges      []struct {
			Cursor string
			Node   struct {
				Operation     string
				Target        string
				Actor         *struct{ ID string }
				AffectedUsers []struct{ ID string }
			}
		}
		PageInfo struct {
			HasNextPage bool
			EndCursor   string
		}
	}
}

const auditQuery = `query($first: Int, $after: Cursor, $user: ID) {
	accessChanges(first: $first, after: $after, userId: $user) {
		totalCount
		edges { cursor node { operation target actor { id } affectedUsers { id } } }
		pageInfo { hasNextPage endCursor } } }`

// The access-change log as an audit trail: newest first, paginated, by
// user, and filtered to the viewer's reach (issue 10).
func TestAudit_AccessChanges(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	w := testenv.NewWorld(t, g.DB.Client)
	a, b := w.Program("A"), w.Program("B")
	u := w.User("u@test.example")
	admin := g.Token(t, g.Admin.ID)
	assign := `mutation($u: ID!, $p: ID!) { assignScope(input: {userId: $u, scopeType: PROGRAM, programId: $p}) { id } }`
	testenv.MustOK(t, g.Do(t, admin, assign, map[string]any{"u": fmt.Sprint(u), "p": fmt.Sprint(a)}))
	testenv.MustOK(t, g.Do(t, admin, assign, map[string]any{"u": fmt.Sprint(u), "p": fmt.Sprint(b)}))
	testenv.MustOK(t, g.Do(t, admin, `mutation($u: ID!) { assignRole(userId: $u, role: VIEWER) { id } }`, map[string]any{"u": fmt.Sprint(u)}))

	var page auditPage
	testenv.MustOK(t, g.Do(t, admin, auditQuery, map[string]any{"first": 2, "user": fmt.Sprint(u)})).Decode(t, &page)
	require.Equal(t, 3, page.AccessChanges.TotalCount, "the three changes that affected u")
	require.Len(t, page.AccessChanges.Edges, 2)
	newest := page.AccessChanges.Edges[0].Node
	assert.Equal(t, "assignRole", newest.Operation, "newest first")
	assert.Equal(t, fmt.Sprint(g.Admin.ID), newest.Actor.ID)
	assert.Equal(t, []struct{ ID string }{{fmt.Sprint(u)}}, newest.AffectedUsers)
	assert.True(t, page.AccessChanges.PageInfo.HasNextPage)

	var next auditPage
	testenv.MustOK(t, g.Do(t, admin, auditQuery, map[string]any{"first": 2, "user": fmt.Sprint(u),
		"after": page.AccessChanges.PageInfo.EndCursor})).Decode(t, &next)
	require.Len(t, next.AccessChanges.Edges, 1)
	assert.Equal(t, "assignScope", next.AccessChanges.Edges[0].Node.Operation)
	assert.Contains(t, next.AccessChanges.Edges[0].Node.Target, fmt.Sprintf("PROGRAM %d", a), "the oldest: the scope on A")

	// An auditor scoped to program A reads the entries about A only.
	auditor := w.User("auditor@test.example")
	w.Role(auditor, access.RoleAdmin)
	w.InProgram(auditor, a)
	var scoped auditPage
	testenv.MustOK(t, g.Do(t, g.Token(t, auditor), auditQuery, nil)).Decode(t, &scoped)
	require.Equal(t, 1, scoped.AccessChanges.TotalCount, "%+v", scoped)
	assert.Contains(t, scoped.AccessChanges.Edges[0].Node.Target, fmt.Sprintf("PROGRAM %d", a))

	// Without AUDIT_READ: refused.
	r := g.Do(t, g.Token(t, u), auditQuery, nil)
	assert.Equal(t, []string{"FORBIDDEN"}, r.Codes())
}
