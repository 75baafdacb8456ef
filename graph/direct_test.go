package graph_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"authz-gateway/access"
	"authz-gateway/app"
	"authz-gateway/graph"
	"authz-gateway/internal/testenv"

	"github.com/99designs/gqlgen/graphql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDirect_AnswersExactlyLikeTheExecutor: the direct path (directSchema)
// answers what it knows byte for byte like gqlgen's executor over the same
// data, for every kind of viewer, with aliases, variables, several me
// fields, lists of every length; and leaves everything else to the
// executor, errors included: a bad ID, a missing viewer, a deactivated user,
// fragments, directives, fields it does not know, a key asked twice. The
// reference is a second gateway over the same database and cache whose
// schema is gqlgen's alone.
func TestDirect_AnswersExactlyLikeTheExecutor(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	executor := testenv.NewGateway(t, testenv.Options{DatabaseURL: g.DatabaseURL, Prefix: g.Prefix(),
		Schema: func(a *app.App) graphql.ExecutableSchema { return graph.NewSchema(a.DB().Client, a.Authz()) }})
	w := testenv.NewWorld(t, g.DB.Client)
	apollo, gemini, empty := w.Program("Apollo"), w.Program("Gemini"), w.Program("Empty")
	lander := w.Project(apollo, "Lander")
	capsule := w.Project(gemini, "Capsule")
	for i := range 3 {
		w.Project(apollo, fmt.Sprint("A", i))
	}
	viewers := map[string]int{"admin": g.Admin.ID}
	for kind, scope := range map[string]func(int){
		"global":  func(u int) { w.Global(u) },
		"program": func(u int) { w.InProgram(u, apollo) },
		"project": func(u int) { w.InProject(u, lander) },
		"nothing": func(int) {},
	} {
		u := w.User(kind + "@test.example")
		w.Role(u, access.RoleViewer)
		scope(u)
		viewers[kind] = u
	}
	gone := w.User("gone@test.example") // deactivated once its token is issued
	w.Role(gone, access.RoleViewer)
	w.Global(gone)

	type request struct {
		query  string
		vars   map[string]any
		direct bool
	}
	can := `query($p: Permission!, $on: ID!) { me { can(permission: $p, on: $on) } }`
	requests := []request{
		{`{ me { can(permission: PROJECT_READ, on: "` + fmt.Sprint(lander) + `") } }`, nil, true},
		{can, map[string]any{"p": "PROJECT_READ", "on": fmt.Sprint(capsule)}, true},
		{can, map[string]any{"p": "PROGRAM_READ", "on": fmt.Sprint(gemini)}, true},
		{can, map[string]any{"p": "PROJECT_WRITE", "on": fmt.Sprint(lander)}, true},
		{can, map[string]any{"p": "PROJECT_READ", "on": fmt.Sprint(capsule + 1000)}, true}, // missing: false
		{can, map[string]any{"p": "PROJECT_READ", "on": fmt.Sprint(empty)}, true},
		{`query($on: ID!) { a: me { x: can(permission: PROJECT_READ, on: $on) y: hasPermission(permission: USER_READ) __typename } b: me { id } }`,
			map[string]any{"on": fmt.Sprint(lander)}, true},
		{`{ me { __typename id permissions hasPermission(permission: PROJECT_READ)
			accessiblePrograms { id __typename } accessibleProjects { __typename id } } }`, nil, true},
		{`{ me { accessibleProjects { id } } }`, nil, true},
		{`{ me { p: accessibleProjects { i: id } q: accessibleProjects { id } } }`, nil, true},
		{`query Named { me { permissions } }`, nil, true},
		// The executor's: what the direct path does not know.
		{can, map[string]any{"p": "PROJECT_READ", "on": "not-an-id"}, false}, // errors
		{can, map[string]any{"p": "PROJECT_READ", "on": "999999"}, false},    // neither program nor project
		{`{ me { accessibleProjects { id name } } }`, nil, false},
		{`{ me { ...mine } } fragment mine on User { id permissions }`, nil, false},
		{`query($yes: Boolean!) { me { id @include(if: $yes) permissions } }`, map[string]any{"yes": false}, false},
		{`{ me { id id } }`, nil, false},
		{`{ me { id } __typename }`, nil, false},
		{`{ me { email } }`, nil, false},
		{`{ me { scopeSummary { hasGlobalScope } } }`, nil, false},
	}
	tokens := map[string]string{"no token": ""}
	for who, u := range viewers {
		tokens[who] = g.Token(t, u)
	}
	tokens["deactivated user"] = g.Token(t, gone)
	w.Deactivate(gone)

	for who, token := range tokens {
		for _, r := range requests {
			before := graph.DirectAnswers()
			want := rawPost(t, executor.Handler, token, r.query, r.vars)
			assert.Equal(t, before, graph.DirectAnswers(), "the reference never answers directly")
			got := rawPost(t, g.Handler, token, r.query, r.vars)
			assert.Equal(t, want, got, "%s: %s %v", who, r.query, r.vars)
			answered := graph.DirectAnswers() - before
			direct := r.direct && token != "" && who != "deactivated user"
			assert.Equal(t, map[bool]int64{true: 1, false: 0}[direct], answered, "%s: %s %v: answered directly", who, r.query, r.vars)
		}
	}
	// And any mix of the fields it knows, drawn at random (fixed seed).
	rng := rand.New(rand.NewPCG(1, 2))
	ids := []int{lander, capsule, apollo, gemini, empty, capsule + 1000}
	for range 60 {
		q := randomMeQuery(rng, ids)
		for _, who := range []string{"global", "program", "project", "nothing"} {
			before := graph.DirectAnswers()
			want := rawPost(t, executor.Handler, tokens[who], q, nil)
			assert.Equal(t, want, rawPost(t, g.Handler, tokens[who], q, nil), "%s: %s", who, q)
			assert.Equal(t, int64(1), graph.DirectAnswers()-before, "%s: %s: answered directly", who, q)
		}
	}

	// The answers are the viewers' own: a GLOBAL viewer's lists hold the
	// whole catalog, a PROJECT viewer's one project.
	var lists struct {
		Me struct{ AccessiblePrograms, AccessibleProjects []struct{ ID string } }
	}
	require.NoError(t, json.Unmarshal(dataOf(t, rawPost(t, g.Handler, tokens["global"], `{ me { accessiblePrograms { id } accessibleProjects { id } } }`, nil)), &lists))
	assert.Len(t, lists.Me.AccessiblePrograms, 3)
	assert.Len(t, lists.Me.AccessibleProjects, 5)
	require.NoError(t, json.Unmarshal(dataOf(t, rawPost(t, g.Handler, tokens["project"], `{ me { accessiblePrograms { id } accessibleProjects { id } } }`, nil)), &lists))
	assert.Equal(t, fmt.Sprint(lander), lists.Me.AccessibleProjects[0].ID)
	assert.Len(t, lists.Me.AccessibleProjects, 1)
}

// FuzzDirect throws arbitrary documents at a gateway and, whenever the
// direct path answered one, asks the executor's gateway the same: the two
// answers must be the same bytes. The asker is a GLOBAL viewer with the
// VIEWER role (no mutation of theirs can succeed, so the data stays put).
func FuzzDirect(f *testing.F) {
	testenv.QuietLogs(f)
	g := testenv.NewGateway(f, testenv.Options{})
	executor := testenv.NewGateway(f, testenv.Options{DatabaseURL: g.DatabaseURL, Prefix: g.Prefix(),
		Schema: func(a *app.App) graphql.ExecutableSchema { return graph.NewSchema(a.DB().Client, a.Authz()) }})
	w := testenv.NewWorld(f, g.DB.Client)
	apollo := w.Program("Apollo")
	lander := w.Project(apollo, "Lander")
	w.Project(w.Program("Gemini"), "Capsule")
	viewer := w.User("viewer@test.example")
	w.Role(viewer, access.RoleViewer)
	w.Global(viewer)
	token := g.Token(f, viewer)
	rng := rand.New(rand.NewPCG(3, 4))
	for range 20 {
		f.Add(randomMeQuery(rng, []int{apollo, lander, lander + 1000}))
	}
	f.Add(`{ me { can(permission: PROJECT_READ, on: "` + fmt.Sprint(lander) + `") } }`)
	f.Add(`query Q { a: me { __typename } b: me { accessibleProjects { id } } }`)
	f.Fuzz(func(t *testing.T, query string) {
		before := graph.DirectAnswers()
		got := rawPost(t, g.Handler, token, query, nil)
		if graph.DirectAnswers() == before {
			return
		}
		if want := rawPost(t, executor.Handler, token, query, nil); got != want {
			t.Fatalf("%q: the direct path answered\n%s\nthe executor\n%s", query, got, want)
		}
	})
}

// randomMeQuery draws one to three me fields, each of one to five User
// fields the direct path knows, most of them aliased.
func randomMeQuery(rng *rand.Rand, ids []int) string {
	perms := []string{"PROGRAM_READ", "PROGRAM_WRITE", "PROJECT_READ", "PROJECT_WRITE", "USER_READ", "USER_MANAGE"}
	var q strings.Builder
	q.WriteString("{")
	for root := range 1 + rng.IntN(3) {
		fmt.Fprintf(&q, " r%d: me {", root) // distinct keys: the executor merges a repeated one
		used := map[string]bool{}
		for i := range 1 + rng.IntN(5) {
			var field string
			switch rng.IntN(7) {
			case 0:
				field = "id"
			case 1:
				field = "__typename"
			case 2:
				field = "permissions"
			case 3:
				field = fmt.Sprintf(`can(permission: %s, on: "%d")`, perms[rng.IntN(len(perms))], ids[rng.IntN(len(ids))])
			case 4:
				field = fmt.Sprintf("hasPermission(permission: %s)", perms[rng.IntN(len(perms))])
			case 5:
				field = "accessiblePrograms { id }"
			default:
				field = "accessibleProjects { __typename id }"
			}
			key, name := fmt.Sprintf("f%d: ", i), strings.FieldsFunc(field, func(r rune) bool { return r == '(' || r == ' ' })[0]
			if rng.IntN(3) == 0 && !used[name] {
				key, used[name] = "", true // unaliased: its name is its key, once
			}
			q.WriteString(" " + key + field)
		}
		q.WriteString(" }")
	}
	q.WriteString(" }")
	return q.String()
}

// rawPost returns the status and the body, exactly as sent.
func rawPost(t testing.TB, h http.Handler, token, query string, vars map[string]any) string {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	require.NoError(t, err)
	req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	out, err := io.ReadAll(rec.Result().Body)
	require.NoError(t, err)
	return fmt.Sprintf("%d %s", rec.Code, out)
}

func dataOf(t testing.TB, answer string) []byte {
	t.Helper()
	var env struct {
		Data json.RawMessage
	}
	_, body, _ := bytes.Cut([]byte(answer), []byte(" "))
	require.NoError(t, json.Unmarshal(body, &env), answer)
	return env.Data
}
