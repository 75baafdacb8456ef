package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"authz-gateway/internal/testenv"
)

// FuzzGraphQLHTTP throws arbitrary bodies (queries, variables, broken JSON)
// and GET query strings at the handler, as an authenticated admin so that
// resolvers run: it must never panic and never answer 5xx.
func FuzzGraphQLHTTP(f *testing.F) {
	testenv.QuietLogs(f)
	g := testenv.NewGateway(f, testenv.Options{})
	token := g.Token(f, g.Admin.ID)
	for _, seed := range []string{
		`{"query":"{ me { id email permissions accessiblePrograms { id name } scopeSummary { directScopes { program { id } } } } }"}`,
		`{"query":"query($id: ID!) { node(id: $id) { id } }","variables":{"id":"abc"}}`,
		`{"query":"query($id: ID!) { node(id: $id) { id } }","variables":{"id":99999999999999999999}}`,
		`{"query":"mutation($in: AssignScopeInput!) { assignScope(input: $in) { id } }","variables":{"in":{"userId":"1","scopeType":"PROJECT","programId":"1"}}}`,
		`{"query":"{ programs(first: 2, after: \"gaFpzQAB\") { edges { cursor } } }"}`,
		`{"query":"{ users(where: {or: [{not: {emailContains: \"a\"}}]}) { totalCount } }"}`,
		`{"query":"mutation { createProgram(input: {name: \"\\u0000\"}) { id } }"}`,
		`{"query":"{ __typename }","operationName":"missing"}`,
		`{"query":null,"variables":[]}`,
		`[]`, `{`, `null`, `"x"`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := postRaw(g.Handler, token, "application/json", body)
		if rec.Code >= 500 {
			t.Fatalf("POST %q: status %d: %s", body, rec.Code, rec.Body.String())
		}
		get := httptest.NewRequest(http.MethodGet, "/graphql?query="+url.QueryEscape(string(body)), nil)
		get.Header.Set("Authorization", "Bearer "+token)
		rec = httptest.NewRecorder()
		g.Handler.ServeHTTP(rec, get)
		if rec.Code >= 500 {
			t.Fatalf("GET %q: status %d: %s", body, rec.Code, rec.Body.String())
		}
	})
}
