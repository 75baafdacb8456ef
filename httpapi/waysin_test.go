package httpapi_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"authz-gateway/internal/testenv"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The ways in of issue 9 that an HTTP client finds, each a repro that worked
// before the fix, against the production configuration.

// answeredQuickly posts body and asserts a 4xx answer within bound, and that
// no goroutine is left computing afterwards. It asks for
// application/graphql-response+json, whose request errors are 4xx (with
// application/json they are 200, errors in the body: GraphQL over HTTP).
func answeredQuickly(t *testing.T, g *testenv.Gateway, token string, body []byte, bound time.Duration) *httptest.ResponseRecorder {
	t.Helper()
	before := runtime.NumGoroutine()
	done := make(chan *httptest.ResponseRecorder, 1)
	go func() {
		done <- postAccepting(g.Handler, token, "application/json", "application/graphql-response+json", body)
	}()
	var rec *httptest.ResponseRecorder
	select {
	case rec = <-done:
	case <-time.After(bound):
		t.Fatalf("no answer within %s", bound)
	}
	assert.GreaterOrEqual(t, rec.Code, 400)
	assert.Less(t, rec.Code, 500)
	assert.Eventually(t, func() bool { return runtime.NumGoroutine() <= before+2 }, 2*time.Second, 20*time.Millisecond,
		"the process is idle afterwards")
	return rec
}

// Repro 1: 40 levels of fragments, each spreading the next twice (2 KB),
// kept a core busy forever, token or not.
func TestWaysIn_FragmentDoubling(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	var b strings.Builder
	b.WriteString("query{...F0}\n")
	for i := range 40 {
		fmt.Fprintf(&b, "fragment F%d on Query{__typename ...F%d ...F%d}\n", i, i+1, i+1)
	}
	b.WriteString("fragment F40 on Query{__typename}\n")
	for _, token := range []string{"", g.Token(t, g.Admin.ID)} {
		rec := answeredQuickly(t, g, token, mustJSON(map[string]any{"query": b.String()}), 2*time.Second)
		assert.Contains(t, rec.Body.String(), "BAD_USER_INPUT")
	}
}

// Repro 2: `{ me { id id ... x50000 } }` (150 KB, under the body limit) took
// 131 s: validation is quadratic in same-named fields.
func TestWaysIn_WideQuery(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	query := "{ me { " + strings.Repeat("id ", 50_000) + "} }"
	rec := answeredQuickly(t, g, "", mustJSON(map[string]any{"query": query}), 2*time.Second)
	assert.Contains(t, rec.Body.String(), "BAD_USER_INPUT")
	assert.Contains(t, rec.Body.String(), "token limit")

	// Under the token limit, the field limit still bounds validation.
	query = "{ me { " + strings.Repeat("id ", 2_000) + "} }"
	rec = answeredQuickly(t, g, g.Token(t, g.Admin.ID), mustJSON(map[string]any{"query": query}), 2*time.Second)
	assert.Contains(t, rec.Body.String(), "fields")
}

// Repro 16: 20,000 @include in a 380 KB body gave 3.2 MB of errors.
func TestWaysIn_OversizedErrors(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	query := "{ me { id " + strings.Repeat("@include(if: true) ", 20_000) + "} }"
	rec := answeredQuickly(t, g, "", mustJSON(map[string]any{"query": query}), 2*time.Second)
	assert.Less(t, rec.Body.Len(), 2048, "one short error, not one per directive")
}

// Repro 9: with the database connection black-holed, requests hung for 8 s+
// and /readyz never said 503.
func TestWaysIn_HungDatabase(t *testing.T) {
	testenv.Slow(t, "a hung database, waited out")
	dbURL, err := url.Parse(testenv.PostgresURL(t))
	require.NoError(t, err)
	proxy := testenv.StartProxy(t, dbURL.Host)
	dbURL.Host = proxy.Addr
	g := testenv.NewGateway(t, testenv.Options{DatabaseURL: dbURL.String()})
	token := g.Token(t, g.Admin.ID)
	testenv.MustOK(t, g.Do(t, token, `{ me { id } }`, nil))

	proxy.Blackhole()
	start := time.Now()
	r := g.Do(t, g.Token(t, g.Admin.ID+1), `{ me { id } }`, nil) // a user nobody cached
	assert.Equal(t, []string{"UNAVAILABLE"}, r.Codes(), "%+v", r.Errors)
	assert.Less(t, time.Since(start), 8*time.Second, "DB_TIMEOUT (3 s) bounds the wait")

	start = time.Now()
	rec := httptest.NewRecorder()
	g.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.Less(t, time.Since(start), 3*time.Second)
}

// Repro 10: another user's scopeSummary counts were not filtered to the
// viewer's reach while the lists were (counts 2/4 beside lists of 1/1).
func TestWaysIn_CountsFollowTheLists(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	w := testenv.NewWorld(t, g.DB.Client)
	a, b := w.Program("A"), w.Program("B")
	a1, a2 := w.Project(a, "a1"), w.Project(a, "a2")
	w.Project(b, "b1")
	w.Project(b, "b2")
	viewer := w.User("viewer@test.example")
	w.Role(viewer, "PROGRAM_MANAGER") // USER_READ and both reads
	w.InProgram(viewer, a)
	wide := w.User("wide@test.example")
	w.InProgram(wide, a)
	w.InProgram(wide, b)
	var out struct {
		Node struct {
			AccessiblePrograms []struct{ ID string }
			AccessibleProjects []struct{ ID string }
			ScopeSummary       struct{ AccessibleProgramCount, AccessibleProjectCount int }
		}
	}
	testenv.MustOK(t, g.Do(t, g.Token(t, viewer), `query($id: ID!) { node(id: $id) { ... on User {
		accessiblePrograms { id } accessibleProjects { id }
		scopeSummary { accessibleProgramCount accessibleProjectCount } } } }`,
		map[string]any{"id": fmt.Sprint(wide)})).Decode(t, &out)
	assert.Len(t, out.Node.AccessiblePrograms, 1)
	assert.Len(t, out.Node.AccessibleProjects, 2, "a1 and a2 (%d, %d)", a1, a2)
	assert.Equal(t, 1, out.Node.ScopeSummary.AccessibleProgramCount)
	assert.Equal(t, 2, out.Node.ScopeSummary.AccessibleProjectCount)
}

// Repro 11: filters and messages leaked the names and existence of hidden
// objects.
func TestWaysIn_FiltersAndMessagesLeakNothing(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	w := testenv.NewWorld(t, g.DB.Client)
	a, b := w.Program("Apollo"), w.Program("Gemini")
	a1 := w.Project(a, "a1")
	w.Project(a, "hidden")
	gb := w.Project(b, "g1")
	lead := w.User("lead@test.example")
	w.Role(lead, "ADMIN") // every permission, on one project
	w.InProject(lead, a1)
	token := g.Token(t, lead)

	r := g.Do(t, token, `{ projects(where: {hasProgramWith: {nameHasPrefix: "G"}}) { totalCount } }`, nil)
	assert.Equal(t, []string{"BAD_USER_INPUT"}, r.Codes(), "no filter runs through programs")

	r = g.Do(t, token, `mutation($id: ID!) { updateProject(id: $id, input: {name: "hidden"}) { id } }`,
		map[string]any{"id": fmt.Sprint(a1)})
	require.Equal(t, []string{"BAD_USER_INPUT"}, r.Codes())
	assert.NotContains(t, r.Errors[0].Message, "hidden", "the clash does not name the hidden project")

	other := w.User("other@test.example")
	hiddenScope := w.InProject(other, gb)
	r = g.Do(t, token, `mutation($id: ID!) { removeScope(id: $id) }`, map[string]any{"id": fmt.Sprint(hiddenScope)})
	require.Equal(t, []string{"NOT_FOUND"}, r.Codes())
	missing := g.Do(t, token, `mutation($id: ID!) { removeScope(id: $id) }`, map[string]any{"id": fmt.Sprint(hiddenScope + 1000)})
	assert.Equal(t, missing.Errors[0].Message, r.Errors[0].Message, "a hidden scope reads like a missing one")
}

// Repro 12: `{mee}` answered `Did you mean "me"` in production.
func TestWaysIn_NoSchemaHintsInProduction(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	r := g.Do(t, "", `{ mee }`, nil)
	require.Equal(t, []string{"BAD_USER_INPUT"}, r.Codes())
	assert.NotContains(t, r.Errors[0].Message, "Did you mean")
}

// Repro 13: anyone could store 100 KB of non-GraphQL text for 24 h as a
// persisted query.
func TestWaysIn_PersistedQueriesOnlyValidDocuments(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	for name, text := range map[string]string{
		"junk":      strings.Repeat("not graphql ", 9000),
		"invalid":   "{ nosuchfield }",
		"too large": "{ me { id } }" + strings.Repeat(" ", 20_000),
	} {
		sum := sha256.Sum256([]byte(text))
		hash := hex.EncodeToString(sum[:])
		postRaw(g.Handler, "", "application/json", mustJSON(map[string]any{"query": text,
			"extensions": map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hash}}}))
		n, err := g.Redis.Exists(context.Background(), g.Prefix()+"apq:"+hash).Result()
		require.NoError(t, err)
		assert.Zero(t, n, "%s was not stored", name)
	}
}

// Repro 15: client mistakes answered INTERNAL, and rate-limit keys ignored
// CACHE_PREFIX.
func TestWaysIn_ClientMistakesAreNotInternal(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	admin := g.Token(t, g.Admin.ID)
	for name, tc := range map[string]struct {
		query string
		vars  map[string]any
	}{
		"first and last":   {`{ programs(first: 1, last: 1) { totalCount } }`, nil},
		"NUL in a name":    {`mutation { createProgram(input: {name: "a\u0000b"}) { id } }`, nil},
		"NUL in variables": {`query($p: String!) { programs(where: {nameHasPrefix: $p}) { totalCount } }`, map[string]any{"p": "a\x00"}},
	} {
		r := g.Do(t, admin, tc.query, tc.vars)
		assert.Equal(t, []string{"BAD_USER_INPUT"}, r.Codes(), "%s: %+v", name, r.Errors)
	}
}

// Repro 17: whitespace-only names, control characters and bidi overrides
// were accepted, and names were compared unnormalized.
func TestWaysIn_Names(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	admin := g.Token(t, g.Admin.ID)
	create := `mutation($n: String!) { createProgram(input: {name: $n}) { id name } }`
	for _, bad := range []string{"   ", "a\tb", "evil\u202Egnp.exe", "bell\a"} {
		r := g.Do(t, admin, create, map[string]any{"n": bad})
		assert.Equal(t, []string{"BAD_USER_INPUT"}, r.Codes(), "%q", bad)
	}
	var out struct{ CreateProgram struct{ Name string } }
	testenv.MustOK(t, g.Do(t, admin, create, map[string]any{"n": "  Caf\u00e9  "})).Decode(t, &out)
	assert.Equal(t, "Caf\u00e9", out.CreateProgram.Name, "trimmed")
	r := g.Do(t, admin, create, map[string]any{"n": "Cafe\u0301"})
	assert.Equal(t, []string{"BAD_USER_INPUT"}, r.Codes(), "the same name, decomposed, is the same name")
}

// Repro 18: refreshUserCache of an ID that is no user answered an empty
// summary.
func TestWaysIn_RefreshUnknownUser(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	r := g.Do(t, g.Token(t, g.Admin.ID), `mutation { refreshUserCache(userId: "987654321") { hasGlobalScope } }`, nil)
	assert.Equal(t, []string{"NOT_FOUND"}, r.Codes())
}
