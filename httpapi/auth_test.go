package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"authz-gateway/auth"
	"authz-gateway/internal/testenv"
	"authz-gateway/reqctx"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAuth_RejectsBadTokens(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	ctx := reqctx.NewContextWithSystem(context.Background())
	inactive := g.DB.Client.User.Create().SetEmail("gone@test.example").SetName("Gone").SetActive(false).SaveX(ctx)

	sign := func(secret []byte, claims jwt.MapClaims, method jwt.SigningMethod) string {
		s, err := jwt.NewWithClaims(method, claims).SignedString(secret)
		require.NoError(t, err)
		return s
	}
	future := time.Now().Add(time.Hour).Unix()
	cases := []struct {
		name, token, message string
	}{
		{"no token", "", "authentication required"},
		{"garbage", "not-a-jwt", "invalid token"},
		{"bad signature", sign([]byte("another-secret"), jwt.MapClaims{"sub": itoa(g.Admin.ID), "exp": future}, jwt.SigningMethodHS256), "invalid token"},
		{"expired", sign(testenv.Secret, jwt.MapClaims{"sub": itoa(g.Admin.ID), "exp": time.Now().Add(-time.Minute).Unix()}, jwt.SigningMethodHS256), "token expired"},
		{"no exp", sign(testenv.Secret, jwt.MapClaims{"sub": itoa(g.Admin.ID)}, jwt.SigningMethodHS256), "invalid token"},
		{"other algorithm", sign(testenv.Secret, jwt.MapClaims{"sub": itoa(g.Admin.ID), "exp": future}, jwt.SigningMethodHS512), "invalid token"},
		{"non-numeric subject", sign(testenv.Secret, jwt.MapClaims{"sub": "admin", "exp": future}, jwt.SigningMethodHS256), "invalid token"},
		{"unknown user", g.Token(t, 987654), "unknown or inactive user"},
		{"inactive user", g.Token(t, inactive.ID), "unknown or inactive user"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := g.Do(t, tc.token, `{ me { email } programs { totalCount } }`, nil)
			require.NotEmpty(t, r.Errors)
			for _, e := range r.Errors {
				assert.Equal(t, "UNAUTHENTICATED", e.Extensions["code"])
				assert.Contains(t, e.Message, tc.message)
			}
			// programs is non-null, so its error nulls the whole data.
			assert.Equal(t, "null", string(r.Data))
		})
	}

	t.Run("valid token", func(t *testing.T) {
		var out struct{ Me struct{ Email string } }
		testenv.MustOK(t, g.Do(t, g.Token(t, g.Admin.ID), `{ me { email } }`, nil)).Decode(t, &out)
		assert.Equal(t, testenv.AdminEmail, out.Me.Email)
	})
	t.Run("typename needs no viewer", func(t *testing.T) {
		r := testenv.MustOK(t, g.Do(t, "", `{ __typename }`, nil))
		assert.JSONEq(t, `{"__typename": "Query"}`, string(r.Data))
	})
	t.Run("deactivated after issue", func(t *testing.T) {
		u := g.DB.Client.User.Create().SetEmail("later@test.example").SetName("Later").SaveX(ctx)
		tok := g.Token(t, u.ID)
		testenv.MustOK(t, g.Do(t, tok, `{ me { email } }`, nil))
		testenv.MustOK(t, g.Do(t, g.Token(t, g.Admin.ID), `mutation($id: ID!) { updateUser(id: $id, input: {active: false}) { active } }`,
			map[string]any{"id": itoa(u.ID)}))
		assert.Equal(t, []string{"UNAUTHENTICATED"}, g.Do(t, tok, `{ me { email } }`, nil).Codes())
	})
}

func TestTokens_Verify(t *testing.T) {
	tokens := auth.NewTokens([]byte("k"))
	tok, err := tokens.Issue(42, time.Minute)
	require.NoError(t, err)
	id, err := tokens.Verify(tok)
	require.NoError(t, err)
	assert.Equal(t, 42, id.UserID)
	_, err = auth.NewTokens([]byte("other")).Verify(tok)
	assert.ErrorIs(t, err, auth.ErrTokenInvalid)
}

func TestHTTP_Routes(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/": 404, "/schema.graphql": 404} {
		rec := httptest.NewRecorder()
		g.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		assert.Equal(t, want, rec.Code, path)
	}
	t.Run("mutation over GET is 405", func(t *testing.T) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, `/graphql?query=mutation%7BinvalidateAllCaches%7D`, nil)
		req.Header.Set("Authorization", "Bearer "+g.Token(t, g.Admin.ID))
		g.Handler.ServeHTTP(rec, req)
		assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
		// Issue 9, repro 15: the 405 carried no extensions.code.
		assert.JSONEq(t, `{"errors":[{"message":"mutations must be sent with POST","extensions":{"code":"BAD_USER_INPUT"}}]}`, rec.Body.String())
	})
	t.Run("query over GET", func(t *testing.T) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, `/graphql?query=%7Bme%7Bemail%7D%7D`, nil)
		req.Header.Set("Authorization", "Bearer "+g.Token(t, g.Admin.ID))
		g.Handler.ServeHTTP(rec, req)
		assert.Equal(t, http.StatusOK, rec.Code)
		assert.Contains(t, rec.Body.String(), testenv.AdminEmail)
	})
}

// In development the schema is served as SDL, the committed schema.graphql
// exactly (code generators that do not introspect read it).
func TestHTTP_SchemaSDLInDevelopment(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{Introspection: true})
	rec := httptest.NewRecorder()
	g.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/schema.graphql", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	committed, err := os.ReadFile("../schema.graphql")
	require.NoError(t, err)
	assert.Equal(t, string(committed), rec.Body.String())
	assert.Contains(t, rec.Body.String(), "accessChanged: AccessSnapshot!")
}

func itoa(i int) string { return jsonNumber(i) }
