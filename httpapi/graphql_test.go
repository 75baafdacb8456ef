package httpapi_test

import (
	"fmt"
	"testing"

	"authz-gateway/internal/testenv"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGraphQL_CreateAndReadBack(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	admin := g.Token(t, g.Admin.ID)

	var created struct {
		CreateProgram struct{ ID, Name, Description string }
	}
	testenv.MustOK(t, g.Do(t, admin, `mutation($in: CreateProgramInput!) { createProgram(input: $in) { id name description } }`,
		map[string]any{"in": map[string]any{"name": "Artemis", "description": "Back to the Moon"}})).Decode(t, &created)
	program := created.CreateProgram
	assert.Equal(t, "Artemis", program.Name)

	var createdProject struct {
		CreateProject struct {
			ID      string
			Program struct{ ID string }
		}
	}
	testenv.MustOK(t, g.Do(t, admin, `mutation($in: CreateProjectInput!) { createProject(input: $in) { id program { id } } }`,
		map[string]any{"in": map[string]any{"name": "Orion", "programID": program.ID}})).Decode(t, &createdProject)
	project := createdProject.CreateProject
	assert.Equal(t, program.ID, project.Program.ID)

	var createdUser struct{ CreateUser struct{ ID, Email string } }
	testenv.MustOK(t, g.Do(t, admin, `mutation { createUser(input: {email: " Ada@Example.com ", name: "Ada"}) { id email } }`, nil)).
		Decode(t, &createdUser)
	assert.Equal(t, "ada@example.com", createdUser.CreateUser.Email, "emails are normalized")

	var read struct {
		Programs struct {
			TotalCount int
			Edges      []struct {
				Node struct {
					ID       string
					Projects []struct{ ID, Name string }
				}
			}
		}
		Users struct {
			Edges []struct{ Node struct{ ID, Name string } }
		}
		P     struct{ Name string }
		J     struct{ Name string }
		U     struct{ Email string }
		Nodes []struct{ ID string }
	}
	testenv.MustOK(t, g.Do(t, admin, `query($p: ID!, $j: ID!, $u: ID!) {
		programs(where: {name: "Artemis"}) { totalCount edges { node { id projects { id name } } } }
		users(where: {emailHasPrefix: "ada@"}) { edges { node { id name } } }
		p: node(id: $p) { ... on Program { name } }
		j: node(id: $j) { ... on Project { name } }
		u: node(id: $u) { ... on User { email } }
		nodes(ids: [$p, $j, $u]) { id }
	}`, map[string]any{"p": program.ID, "j": project.ID, "u": createdUser.CreateUser.ID})).Decode(t, &read)
	require.Equal(t, 1, read.Programs.TotalCount)
	assert.Equal(t, program.ID, read.Programs.Edges[0].Node.ID)
	assert.Equal(t, []struct{ ID, Name string }{{project.ID, "Orion"}}, read.Programs.Edges[0].Node.Projects)
	require.Len(t, read.Users.Edges, 1)
	assert.Equal(t, "Ada", read.Users.Edges[0].Node.Name)
	assert.Equal(t, "Artemis", read.P.Name)
	assert.Equal(t, "Orion", read.J.Name)
	assert.Equal(t, "ada@example.com", read.U.Email)
	assert.Equal(t, []struct{ ID string }{{program.ID}, {project.ID}, {createdUser.CreateUser.ID}}, read.Nodes)
}

func TestGraphQL_UpdateAndDelete(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	admin := g.Token(t, g.Admin.ID)
	programA := createProgram(t, g, admin, "A")
	programB := createProgram(t, g, admin, "B")
	project := createProject(t, g, admin, programA, "J")

	var moved struct {
		UpdateProject struct {
			Name    string
			Program struct{ Name string }
		}
	}
	testenv.MustOK(t, g.Do(t, admin, `mutation($id: ID!, $to: ID!) { updateProject(id: $id, input: {name: "J2", programID: $to}) { name program { name } } }`,
		map[string]any{"id": project, "to": programB})).Decode(t, &moved)
	assert.Equal(t, "J2", moved.UpdateProject.Name)
	assert.Equal(t, "B", moved.UpdateProject.Program.Name)

	r := g.Do(t, admin, `mutation($id: ID!) { deleteProgram(id: $id) }`, map[string]any{"id": programB})
	assert.Equal(t, []string{"BAD_USER_INPUT"}, r.Codes(), "a program with projects is not deleted")

	testenv.MustOK(t, g.Do(t, admin, `mutation($id: ID!) { deleteProject(id: $id) }`, map[string]any{"id": project}))
	testenv.MustOK(t, g.Do(t, admin, `mutation($id: ID!) { deleteProgram(id: $id) }`, map[string]any{"id": programB}))
	var after struct{ Programs struct{ TotalCount int } }
	testenv.MustOK(t, g.Do(t, admin, `{ programs { totalCount } }`, nil)).Decode(t, &after)
	assert.Equal(t, 1, after.Programs.TotalCount)

	r = g.Do(t, admin, `mutation { createProgram(input: {name: "A"}) { id } }`, nil)
	assert.Equal(t, []string{"BAD_USER_INPUT"}, r.Codes(), "duplicate program name")
	r = g.Do(t, admin, `mutation { createProgram(input: {name: ""}) { id } }`, nil)
	assert.Equal(t, []string{"BAD_USER_INPUT"}, r.Codes(), "empty program name")
	r = g.Do(t, admin, `mutation { createUser(input: {email: "admin@test.example", name: "Dup"}) { id } }`, nil)
	assert.Equal(t, []string{"BAD_USER_INPUT"}, r.Codes(), "duplicate email")
}

func TestGraphQL_Pagination(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	admin := g.Token(t, g.Admin.ID)
	for i := range 5 {
		createProgram(t, g, admin, fmt.Sprintf("P%d", i))
	}
	type page struct {
		Programs struct {
			TotalCount int
			Edges      []struct{ Node struct{ Name string } }
			PageInfo   struct {
				HasNextPage, HasPreviousPage bool
				EndCursor, StartCursor       *string
			}
		}
	}
	var names []string
	var after *string
	for {
		var p page
		testenv.MustOK(t, g.Do(t, admin, `query($after: Cursor) { programs(first: 2, after: $after, orderBy: {field: NAME}) {
			totalCount edges { node { name } } pageInfo { hasNextPage endCursor } } }`, map[string]any{"after": after})).Decode(t, &p)
		assert.Equal(t, 5, p.Programs.TotalCount)
		for _, e := range p.Programs.Edges {
			names = append(names, e.Node.Name)
		}
		if !p.Programs.PageInfo.HasNextPage {
			break
		}
		after = p.Programs.PageInfo.EndCursor
	}
	assert.Equal(t, []string{"P0", "P1", "P2", "P3", "P4"}, names)

	var last page
	testenv.MustOK(t, g.Do(t, admin, `{ programs(last: 2, orderBy: {field: NAME, direction: ASC}) { edges { node { name } } pageInfo { hasPreviousPage } } }`, nil)).Decode(t, &last)
	require.Len(t, last.Programs.Edges, 2)
	assert.Equal(t, "P4", last.Programs.Edges[1].Node.Name)
	assert.True(t, last.Programs.PageInfo.HasPreviousPage)

	r := g.Do(t, admin, `{ programs(first: 1001) { totalCount } }`, nil)
	assert.Equal(t, []string{"BAD_USER_INPUT"}, r.Codes())
	r = g.Do(t, admin, `{ programs(first: 1, after: "not-a-cursor") { totalCount } }`, nil)
	assert.Equal(t, []string{"BAD_USER_INPUT"}, r.Codes())
}

func TestGraphQL_BadIDs(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	admin := g.Token(t, g.Admin.ID)
	cases := []struct {
		name, query string
		vars        map[string]any
		code        string
	}{
		{"malformed literal", `{ node(id: "abc") { id } }`, nil, "BAD_USER_INPUT"},
		{"malformed variable", `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": "12x"}, "BAD_USER_INPUT"},
		{"negative", `{ node(id: "-5") { id } }`, nil, "BAD_USER_INPUT"},
		{"unknown type range", `{ node(id: "999999999999999") { id } }`, nil, "NOT_FOUND"},
		{"unknown row", `{ node(id: "4294967000") { id } }`, nil, "NOT_FOUND"},
		{"update unknown program", `mutation { updateProgram(id: "4000", input: {name: "x"}) { id } }`, nil, "NOT_FOUND"},
		{"project in unknown program", `mutation { createProject(input: {name: "x", programID: "4000"}) { id } }`, nil, "NOT_FOUND"},
		{"unknown enum", `mutation { assignRole(userId: "1", role: OWNER) { id } }`, nil, "BAD_USER_INPUT"},
		{"unknown enum in variable", `mutation($r: RoleType!) { assignRole(userId: "1", role: $r) { id } }`, map[string]any{"r": "OWNER"}, "BAD_USER_INPUT"},
		{"syntax error", `{ node(id: `, nil, "BAD_USER_INPUT"},
		{"unknown field", `{ nope }`, nil, "BAD_USER_INPUT"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := g.Do(t, admin, tc.query, tc.vars)
			require.NotEmpty(t, r.Errors)
			assert.Equal(t, tc.code, r.Codes()[0], "%+v", r.Errors)
		})
	}
}

func createProgram(t *testing.T, g *testenv.Gateway, token, name string) string {
	t.Helper()
	var out struct{ CreateProgram struct{ ID string } }
	testenv.MustOK(t, g.Do(t, token, `mutation($n: String!) { createProgram(input: {name: $n}) { id } }`,
		map[string]any{"n": name})).Decode(t, &out)
	return out.CreateProgram.ID
}

func createProject(t *testing.T, g *testenv.Gateway, token, program, name string) string {
	t.Helper()
	var out struct{ CreateProject struct{ ID string } }
	testenv.MustOK(t, g.Do(t, token, `mutation($p: ID!, $n: String!) { createProject(input: {name: $n, programID: $p}) { id } }`,
		map[string]any{"p": program, "n": name})).Decode(t, &out)
	return out.CreateProject.ID
}

func jsonNumber(i int) string { return fmt.Sprint(i) }
