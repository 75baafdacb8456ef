package httpapi_test

import (
	"fmt"
	"strings"
	"testing"

	"authz-gateway/access"
	"authz-gateway/app"
	"authz-gateway/internal/testenv"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Issue 17, findings 3 and 4: lists are priced by the most they can return,
// so cycles and nested pages are refused before they run (production
// limits: the default complexity limit of 100,000).
func TestCost_ListCyclesAndNestedPagesAreRefused(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{RateLimit: testenv.ProductionRateLimit()})
	w := testenv.NewWorld(t, g.DB.Client)
	small := w.Program("Twenty")
	for i := range 20 {
		w.Project(small, fmt.Sprint("t", i))
	}
	viewer := w.User("viewer@test.example")
	w.Role(viewer, access.RoleViewer)
	w.InProgram(viewer, small)
	admin := g.Token(t, g.Admin.ID)
	testenv.MustOK(t, g.Do(t, admin, `mutation { createProgram(input: {name: "catalog changed"}) { id } }`, nil))

	cycle := `node(id: "%d") { ... on Program { projects { program { projects { program { projects { program { projects { id } } } } } } } } }`
	var aliases []string
	for i := range 8 {
		aliases = append(aliases, fmt.Sprintf("a%d: ", i)+fmt.Sprintf(cycle, small))
	}
	r := g.Do(t, g.Token(t, viewer), "{ "+strings.Join(aliases, " ")+" }", nil)
	require.Equal(t, []string{"BAD_USER_INPUT"}, r.Codes(), "20^4 x 8 project nodes")
	assert.Contains(t, r.Errors[0].Message, "complexity")

	one := fmt.Sprintf(`{ node(id: "%d") { ... on Program { projects { program { projects { id } } } } } }`, small)
	testenv.MustOK(t, g.Do(t, g.Token(t, viewer), one, nil)) // 20 x 20: fine

	pages := fmt.Sprintf(`{ accessChanges(first: 1000, userId: "%d") { edges { node { affectedUsers {
		accessibleProjectConnection(first: 1000) { edges { node { id } } } } } } } }`, viewer)
	r = g.Do(t, admin, pages, nil)
	require.Equal(t, []string{"BAD_USER_INPUT"}, r.Codes(), "a thousand changes of a thousand projects each")
	assert.Contains(t, r.Errors[0].Message, "complexity")

	// The viewer's own lists are priced by their length.
	testenv.MustOK(t, g.Do(t, g.Token(t, viewer), `{ me { accessibleProjects { id } scopeSummary { directScopes { id } } } }`, nil))
}

// TestCost_FieldsThatRunStatementsArePricedPerParent: issue 31, finding 3.
// `accessors(first: 1)` under every program's projects was priced like a
// field (complexity 43,001, admitted) and ran ~18,000 statements. A field
// that runs statements of its own costs them once per parent: that
// document is refused before it runs, and a page of projects with their
// accessors is still answered.
func TestCost_FieldsThatRunStatementsArePricedPerParent(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{RateLimit: testenv.ProductionRateLimit()})
	w := testenv.NewWorld(t, g.DB.Client)
	for i := range 3 {
		p := w.Program(fmt.Sprint("program ", i))
		for j := range 3 {
			w.Project(p, fmt.Sprint("project ", i, j))
		}
	}
	manager := w.User("pm@test.example")
	w.Role(manager, access.RoleProjectManager) // USER_READ
	w.Global(manager)
	token := g.Token(t, manager)

	flood := `{ programs(first: 1000) { edges { node { projects { accessors(permission: PROJECT_WRITE, first: 1) { totalCount } } } } } }`
	testenv.MustOK(t, g.Do(t, token, `{ me { id } }`, nil)) // the viewer's answers warm
	g.SQL.Reset()
	r := g.Do(t, token, flood, nil)
	require.Equal(t, []string{"BAD_USER_INPUT"}, r.Codes())
	assert.Contains(t, r.Errors[0].Message, "complexity")
	assert.Zero(t, g.SQL.Count(), "refused before anything ran: %v", g.SQL.Statements())

	page := `{ programs(first: 3) { edges { node { projects { name accessors(permission: PROJECT_WRITE, first: 5) { totalCount } } } } } }`
	testenv.MustOK(t, g.Do(t, token, page, nil))
}

// An answer larger than MAX_RESPONSE_BYTES is refused with a code.
func TestCost_AnswersOverTheResponseLimitAreRefused(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{Limits: app.Limits{MaxResponseBytes: 1000}})
	w := testenv.NewWorld(t, g.DB.Client)
	p := w.Program("Wide")
	for i := range 30 {
		w.Project(p, fmt.Sprintf("project with a long enough name %02d", i))
	}
	admin := g.Token(t, g.Admin.ID)
	r := g.Do(t, admin, `{ projects(first: 100) { edges { node { id name } } } }`, nil)
	require.Equal(t, []string{"BAD_USER_INPUT"}, r.Codes())
	assert.Contains(t, r.Errors[0].Message, "over the limit of 1000")
	testenv.MustOK(t, g.Do(t, admin, `{ projects(first: 3) { edges { node { id name } } } }`, nil))
}
