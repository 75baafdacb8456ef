package httpapi_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"authz-gateway/app"
	"authz-gateway/internal/testenv"
	"authz-gateway/ratelimit"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLimits_RejectHostileQueries(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{Limits: app.Limits{MaxDepth: 6, MaxComplexity: 5000, MaxAliases: 3, MaxBodyBytes: 4096}})
	admin := g.Token(t, g.Admin.ID)

	deep := `{ me { roleAssignments { user { roleAssignments { user { roleAssignments { user { id } } } } } } } }`
	r := g.Do(t, admin, deep, nil)
	require.Equal(t, []string{"BAD_USER_INPUT"}, r.Codes())
	assert.Contains(t, r.Errors[0].Message, "depth")

	// Lists without first are priced by the catalog: 1000 users times
	// (1 + 10 projects) + (1 + 5 programs) is over 5000.
	w := testenv.NewWorld(t, g.DB.Client)
	for i := range 5 {
		p := w.Program(fmt.Sprint("P", i))
		w.Project(p, "a")
		w.Project(p, "b")
	}
	testenv.MustOK(t, g.Do(t, admin, `mutation { createProgram(input: {name: "catalog changed"}) { id } }`, nil))
	wide := `{ users(first: 1000) { edges { node { accessibleProjects { id } accessiblePrograms { id } } } } }`
	r = g.Do(t, admin, wide, nil)
	require.Equal(t, []string{"BAD_USER_INPUT"}, r.Codes())
	assert.Contains(t, r.Errors[0].Message, "complexity")

	aliases := `{ a: me { id } b: me { id } c: me { id } d: me { id } }`
	r = g.Do(t, admin, aliases, nil)
	require.Equal(t, []string{"BAD_USER_INPUT"}, r.Codes())
	assert.Contains(t, r.Errors[0].Message, "aliases")

	testenv.MustOK(t, g.Do(t, admin, `{ a: me { id } b: me { id } }`, nil))

	big := `{ me { id } }` + strings.Repeat(" ", 5000)
	rec := postRaw(g.Handler, admin, "application/json", mustJSON(map[string]any{"query": big}))
	assert.Equal(t, http.StatusRequestEntityTooLarge, rec.Code)
	assert.Contains(t, rec.Body.String(), "BAD_USER_INPUT")
}

func TestLimits_DefaultDepthAdmitsIntrospection(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{Introspection: true})
	r := testenv.MustOK(t, g.Do(t, g.Token(t, g.Admin.ID), introspectionQuery, nil))
	assert.Contains(t, string(r.Data), "hasPermission", "directives are visible to code generators")
}

func TestLimits_IntrospectionOffOutsideDevelopment(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	r := g.Do(t, g.Token(t, g.Admin.ID), `{ __schema { types { name } } }`, nil)
	assert.Equal(t, []string{"BAD_USER_INPUT"}, r.Codes())
	require.NotEmpty(t, r.Errors)
	assert.Contains(t, r.Errors[0].Message, "introspection is disabled")
}

func TestLimits_PageSize(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	admin := g.Token(t, g.Admin.ID)
	for _, q := range []string{`{ users(first: 1001) { totalCount } }`, `{ users(last: 5000) { totalCount } }`, `{ users(first: -1) { totalCount } }`} {
		assert.Equal(t, []string{"BAD_USER_INPUT"}, g.Do(t, admin, q, nil).Codes(), q)
	}
}

func TestRateLimit_SharedAcrossInstances(t *testing.T) {
	limit := ratelimit.Limit{PerSecond: 1, Burst: 5}
	one := testenv.NewGateway(t, testenv.Options{RateLimit: limit})
	two := testenv.NewGateway(t, testenv.Options{DatabaseURL: one.DatabaseURL, Prefix: one.Prefix(), RateLimit: limit})
	token := one.Token(t, one.Admin.ID)
	allowed := 0
	var last *httptest.ResponseRecorder
	for i := range 10 {
		h := []http.Handler{one.Handler, two.Handler}[i%2]
		last = postRaw(h, token, "application/json", mustJSON(map[string]any{"query": "{ me { id } }"}))
		if last.Code == http.StatusOK {
			allowed++
		}
	}
	assert.Equal(t, 5, allowed, "the burst is shared by both instances")
	assert.Equal(t, http.StatusTooManyRequests, last.Code)
	assert.NotEmpty(t, last.Header().Get("Retry-After"))
	assert.Contains(t, last.Body.String(), `"code":"RATE_LIMITED"`)
	// Issue 9, repro 15: the limiter's keys live under CACHE_PREFIX.
	key := fmt.Sprintf("%sratelimit:user:%d", one.Prefix(), one.Admin.ID)
	n, err := one.Redis.Exists(context.Background(), key).Result()
	require.NoError(t, err)
	assert.Equal(t, int64(1), n, "the budget is kept under %s", key)

	other := one.Token(t, testenv.NewWorld(t, one.DB.Client).User("someone@test.example"))
	assert.Equal(t, http.StatusOK, postRaw(one.Handler, other, "application/json", mustJSON(map[string]any{"query": "{ me { id } }"})).Code,
		"limits are per viewer")
}

func TestRateLimit_EnforcedLocallyWithRedisDown(t *testing.T) {
	redisServer := testenv.StartRedis(t)
	g := testenv.NewGateway(t, testenv.Options{RedisAddr: redisServer.Addr, RateLimit: ratelimit.Limit{PerSecond: 1, Burst: 3}})
	redisServer.Kill()
	token := g.Token(t, g.Admin.ID)
	codes := map[int]int{}
	for range 8 {
		codes[postRaw(g.Handler, token, "application/json", mustJSON(map[string]any{"query": "{ me { id } }"})).Code]++
	}
	assert.Equal(t, map[int]int{http.StatusOK: 3, http.StatusTooManyRequests: 5}, codes)
}

func TestRateLimit_AnonymousPerIP(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{RateLimit: ratelimit.Limit{PerSecond: 1, Burst: 2}})
	codes := map[int]int{}
	for range 4 {
		codes[postRaw(g.Handler, "forged.token.value", "application/json", mustJSON(map[string]any{"query": "{ __typename }"})).Code]++
	}
	assert.Equal(t, map[int]int{http.StatusOK: 2, http.StatusTooManyRequests: 2}, codes, "invalid tokens are limited per IP")
}

func TestHTTP_GraphQLOverHTTP(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	admin := g.Token(t, g.Admin.ID)
	cases := []struct {
		name, contentType, accept, body string
		status                          int
		responseType                    string
	}{
		{"json", "application/json", "", `{"query":"{ me { id } }"}`, 200, "application/json"},
		{"graphql-response+json", "application/json", "application/graphql-response+json", `{"query":"{ me { id } }"}`, 200, "application/graphql-response+json"},
		{"charset", "application/json; charset=utf-8", "application/json", `{"query":"{ me { id } }"}`, 200, "application/json"},
		{"malformed JSON", "application/json", "", `{"query":`, 400, ""},
		{"batch array", "application/json", "", `[{"query":"{ me { id } }"}]`, 400, ""},
		{"no query", "application/json", "application/graphql-response+json", `{}`, 400, ""},
		{"syntax error", "application/json", "application/graphql-response+json", `{"query":"{ me { "}`, 400, ""},
		// GraphQL over HTTP: with application/json, a well-formed request
		// that fails to parse, validate or coerce its variables is 200 (the
		// errors are in the body); with graphql-response+json it is 400.
		{"syntax error, json", "application/json", "application/json", `{"query":"{ me { "}`, 200, "application/json"},
		{"invalid, json", "application/json", "", `{"query":"{ nosuchfield }"}`, 200, "application/json"},
		{"invalid", "application/json", "application/graphql-response+json", `{"query":"{ nosuchfield }"}`, 400, ""},
		{"variables, json", "application/json", "application/json", `{"query":"query($n: Int!) { users(first: $n) { totalCount } }","variables":{"n":"x"}}`, 200, "application/json"},
		{"variables", "application/json", "application/graphql-response+json", `{"query":"query($n: Int!) { users(first: $n) { totalCount } }","variables":{"n":"x"}}`, 400, ""},
		{"unsupported media type", "text/plain", "", `{ me { id } }`, 415, ""},
		{"form", "application/x-www-form-urlencoded", "", `query=%7Bme%7Bid%7D%7D`, 415, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(tc.body))
			req.Header.Set("Content-Type", tc.contentType)
			if tc.accept != "" {
				req.Header.Set("Accept", tc.accept)
			}
			req.Header.Set("Authorization", "Bearer "+admin)
			rec := httptest.NewRecorder()
			g.Handler.ServeHTTP(rec, req)
			assert.Equal(t, tc.status, rec.Code, rec.Body.String())
			if tc.responseType != "" {
				assert.Equal(t, tc.responseType, rec.Header().Get("Content-Type"))
			}
			var body map[string]any
			assert.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body), "always a JSON body")
			if rec.Code >= 400 && rec.Header().Get("Content-Type") == "application/graphql-response+json" {
				assert.NotContains(t, body, "data", "a request error has no data entry")
				assert.NotEmpty(t, body["errors"])
			}
		})
	}
	for _, method := range []string{http.MethodPut, http.MethodDelete, http.MethodPatch} {
		rec := httptest.NewRecorder()
		g.Handler.ServeHTTP(rec, httptest.NewRequest(method, "/graphql", nil))
		assert.Equal(t, http.StatusMethodNotAllowed, rec.Code, method)
		assert.Equal(t, "GET, POST", rec.Header().Get("Allow"))
	}
}

func TestPersistedQueries_SharedThroughRedis(t *testing.T) {
	one := testenv.NewGateway(t, testenv.Options{})
	two := testenv.NewGateway(t, testenv.Options{DatabaseURL: one.DatabaseURL, Prefix: one.Prefix()})
	token := one.Token(t, one.Admin.ID)
	query := `{ me { email } }`
	sum := sha256.Sum256([]byte(query))
	ext := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hex.EncodeToString(sum[:])}}

	rec := postRaw(one.Handler, token, "application/json", mustJSON(map[string]any{"extensions": ext}))
	assert.Contains(t, rec.Body.String(), "PersistedQueryNotFound", "unknown hash first")
	rec = postRaw(one.Handler, token, "application/json", mustJSON(map[string]any{"query": query, "extensions": ext}))
	assert.Equal(t, http.StatusOK, rec.Code)
	rec = postRaw(two.Handler, token, "application/json", mustJSON(map[string]any{"extensions": ext}))
	assert.Contains(t, rec.Body.String(), testenv.AdminEmail, "the other instance knows the hash")
}

// TestPersistedQueries_OnlyForViewers: an anonymous client's query is
// answered but never stored (it could otherwise fill Redis from any
// address); the same query from a viewer is.
func TestPersistedQueries_OnlyForViewers(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{RateLimit: testenv.ProductionRateLimit()})
	query := `{ __typename }`
	sum := sha256.Sum256([]byte(query))
	ext := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hex.EncodeToString(sum[:])}}

	rec := postRaw(g.Handler, "", "application/json", mustJSON(map[string]any{"query": query, "extensions": ext}))
	assert.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	rec = postRaw(g.Handler, "", "application/json", mustJSON(map[string]any{"extensions": ext}))
	assert.Contains(t, rec.Body.String(), "PersistedQueryNotFound", "not stored for an anonymous client")
	keys, err := g.Redis.Keys(t.Context(), g.Prefix()+"apq:*").Result()
	require.NoError(t, err)
	assert.Empty(t, keys)

	token := g.Token(t, g.Admin.ID)
	postRaw(g.Handler, token, "application/json", mustJSON(map[string]any{"query": query, "extensions": ext}))
	rec = postRaw(g.Handler, token, "application/json", mustJSON(map[string]any{"extensions": ext}))
	assert.JSONEq(t, `{"data":{"__typename":"Query"}}`, rec.Body.String(), "stored for a viewer")
}

// TestPrivacy_WarmProgramsRunNoAuthorizationSQL: with a warm cache, listing
// programs filters by the viewer's scope without any authorization query.
func TestPrivacy_WarmProgramsRunNoAuthorizationSQL(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	w := testenv.NewWorld(t, g.DB.Client)
	a := w.Program("A")
	w.Program("B")
	u := w.User("scoped@test.example")
	w.Role(u, "VIEWER")
	w.InProgram(u, a)
	token := g.Token(t, u)
	query := `{ programs { totalCount edges { node { name } } } }`
	testenv.MustOK(t, g.Do(t, token, query, nil)) // warm
	g.SQL.Reset()
	g.Trips.Reset()
	r := testenv.MustOK(t, g.Do(t, token, query, nil))
	assert.JSONEq(t, `{"programs": {"totalCount": 1, "edges": [{"node": {"name": "A"}}]}}`, string(r.Data))
	assert.Empty(t, g.SQL.Matching("scope_assignments"), "no scope SQL")
	assert.Empty(t, g.SQL.Matching("role_assignments"), "no role SQL")
	assert.Equal(t, 1, g.SQL.Count(), "the page alone (totalCount and authentication read the cache): %v", g.SQL.Statements())
	assert.Zero(t, g.Trips.Trips(), "the viewer's status and reach from the L1")
}

func postRaw(h http.Handler, token, contentType string, body []byte) *httptest.ResponseRecorder {
	return postAccepting(h, token, contentType, "", body)
}

// postAccepting is postRaw with an Accept header (none when empty).
func postAccepting(h http.Handler, token, contentType, accept string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return testenv.Serve(h, req)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

const introspectionQuery = `query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } }
}`

func TestHTTP_CORS(t *testing.T) {
	h := testenv.NewGateway(t, testenv.Options{CORSOrigins: []string{"https://app.example"}}).Handler
	pre := httptest.NewRequest(http.MethodOptions, "/graphql", nil)
	pre.Header.Set("Origin", "https://app.example")
	pre.Header.Set("Access-Control-Request-Method", "POST")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, pre)
	assert.Equal(t, http.StatusNoContent, rec.Code)
	assert.Equal(t, "https://app.example", rec.Header().Get("Access-Control-Allow-Origin"))
	assert.Contains(t, rec.Header().Get("Access-Control-Allow-Headers"), "Authorization")

	req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(`{"query":"{ __typename }"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", "https://evil.example")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Empty(t, rec.Header().Get("Access-Control-Allow-Origin"), "other origins get no CORS grant")
}

// TestDeadline_PassedBeforeExecutionIsACodedError: issue 31, finding 10.
// A request whose deadline had passed by the time it was admitted was
// answered 200 with the body `null` (gqlgen's executor answers nothing
// once the context is done). It gets a JSON error with a code.
func TestDeadline_PassedBeforeExecutionIsACodedError(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{RateLimit: testenv.ProductionRateLimit()})
	token := g.Token(t, g.Admin.ID)
	testenv.MustOK(t, g.Do(t, token, `{ me { id } }`, nil))
	for name, query := range map[string]string{"query": `{ me { id } }`, "typename": `{ __typename }`, "mutation": `mutation { invalidateAllCaches }`} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
			defer cancel()
			req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(string(mustJSON(map[string]any{"query": query})))).WithContext(ctx)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+token)
			rec := testenv.Serve(g.Handler, req)
			var body testenv.Response
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body), "a JSON object, not %q", rec.Body.String())
			assert.Contains(t, body.Codes(), "UNAVAILABLE", rec.Body.String())
		})
	}
}
