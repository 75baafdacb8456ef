package login_test

import (
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"authz-gateway/examples/hydra-login/login"
	"authz-gateway/internal/testenv"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A person signs in through a real Hydra and the app, as a browser would
// (cookies, redirects, forms): a wrong password is refused on the page, the
// right one and "Allow" give an access token for the gateway's audience with
// the claims the gateway reads; "Deny" and "Cancel" send the browser back to
// the client with access_denied; a forged challenge leads nowhere.
func TestLogin_SignsAPersonInThroughHydra(t *testing.T) {
	var app http.Handler
	ui := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { app.ServeHTTP(w, r) }))
	t.Cleanup(ui.Close)
	hydra := testenv.StartHydraWith(t, testenv.HydraOptions{LoginURL: ui.URL + "/login", ConsentURL: ui.URL + "/consent"})
	var err error
	app, err = login.New(login.Config{HydraAdminURL: hydra.AdminURL, Audience: "authz-gateway", People: []login.Person{
		{Email: "Grace@Example.com", Name: "Grace", Password: "correct horse", Groups: []string{"platform"}},
	}})
	require.NoError(t, err)
	const callback = "http://127.0.0.1:1/callback"
	client := hydra.CreateClientWith(t, map[string]any{
		"client_id": "web-app", "client_name": "The web app", "grant_types": []string{"authorization_code"},
		"response_types": []string{"code"}, "redirect_uris": []string{callback}, "scope": "openid email profile",
		"audience": []string{"authz-gateway"}, "token_endpoint_auth_method": "client_secret_post", "access_token_strategy": "jwt",
	})

	// start begins a flow in a fresh browser and returns it on the login page.
	start := func() (*browser, string) {
		b := newBrowser(t)
		page := b.follow(hydra.Issuer + "/oauth2/auth?" + url.Values{
			"client_id": {client.ID}, "response_type": {"code"}, "redirect_uri": {callback},
			"scope": {"openid email profile"}, "state": {"state-0123456789"}, "audience": {"authz-gateway"},
		}.Encode())
		require.Contains(t, page, "to continue to The web app")
		return b, hidden(t, page, "challenge")
	}

	b, challenge := start()
	status, page := b.post(ui.URL+"/login", url.Values{"challenge": {challenge}, "email": {"grace@example.com"}, "password": {"wrong"}})
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Contains(t, page, "Unknown email or wrong password.")
	_, page = b.post(ui.URL+"/login", url.Values{"challenge": {challenge}, "email": {"grace@example.com"}, "password": {"correct horse"}})
	require.Contains(t, page, "Allow The web app?")
	assert.Contains(t, page, "<b>authz-gateway</b>")
	_, _ = b.post(ui.URL+"/consent", url.Values{"challenge": {hidden(t, page, "challenge")}, "action": {"allow"}})
	code := b.landed.Query().Get("code")
	require.NotEmpty(t, code, "back at the client with a code: %s", b.landed)

	resp, err := http.PostForm(hydra.Issuer+"/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {callback}, "client_id": {client.ID}, "client_secret": {client.Secret}})
	require.NoError(t, err)
	var token struct {
		AccessToken string `json:"access_token"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&token))
	resp.Body.Close()
	claims := jwtClaims(t, token.AccessToken)
	assert.Equal(t, "grace@example.com", claims["email"])
	assert.Equal(t, true, claims["email_verified"])
	assert.Equal(t, "Grace", claims["name"])
	assert.Equal(t, []any{"platform"}, claims["groups"])
	assert.Equal(t, []any{"authz-gateway"}, claims["aud"])

	// Cancel on the login page, and Deny on the consent page.
	b, challenge = start()
	_, _ = b.post(ui.URL+"/login", url.Values{"challenge": {challenge}, "action": {"deny"}})
	assert.Equal(t, "access_denied", b.landed.Query().Get("error"), "%s", b.landed)
	b, challenge = start()
	_, page = b.post(ui.URL+"/login", url.Values{"challenge": {challenge}, "email": {"grace@example.com"}, "password": {"correct horse"}})
	_, _ = b.post(ui.URL+"/consent", url.Values{"challenge": {hidden(t, page, "challenge")}, "action": {"deny"}})
	assert.Equal(t, "access_denied", b.landed.Query().Get("error"), "%s", b.landed)

	// A challenge Hydra never issued.
	status, page = newBrowser(t).post(ui.URL+"/login", url.Values{"challenge": {"forged"}, "email": {"grace@example.com"}, "password": {"correct horse"}})
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, page, "unknown or has expired")
}

func TestLogin_RefusesAnIncompleteConfiguration(t *testing.T) {
	_, err := login.New(login.Config{Audience: "authz-gateway"})
	assert.Error(t, err)
	_, err = login.New(login.Config{HydraAdminURL: "http://127.0.0.1:4445", Audience: "a", People: []login.Person{{Email: "x@example.com"}}})
	assert.ErrorContains(t, err, "password")
	people, err := login.LoadPeople(strings.NewReader(`[{"email":"a@example.com","name":"A","password":"p","groups":["g"]}]`))
	require.NoError(t, err)
	assert.Equal(t, []login.Person{{Email: "a@example.com", Name: "A", Password: "p", Groups: []string{"g"}}}, people)
}

// browser follows redirects with cookies, as a browser does, and stops at
// the client's callback (nobody serves it), keeping where it landed.
type browser struct {
	t      *testing.T
	client *http.Client
	landed *url.URL
}

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	b := &browser{t: t}
	b.client = &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(r *http.Request, _ []*http.Request) error {
		b.landed = r.URL
		if r.URL.Host == "127.0.0.1:1" {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	return b
}

func (b *browser) follow(u string) string {
	resp, err := b.client.Get(u)
	require.NoError(b.t, err)
	return body(b.t, resp)
}

func (b *browser) post(u string, form url.Values) (int, string) {
	resp, err := b.client.PostForm(u, form)
	require.NoError(b.t, err)
	return resp.StatusCode, body(b.t, resp)
}

func body(t *testing.T, resp *http.Response) string {
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// hidden reads a hidden form field's value from a page.
func hidden(t *testing.T, page, name string) string {
	t.Helper()
	marker := `name="` + name + `" value="`
	i := strings.Index(page, marker)
	require.GreaterOrEqual(t, i, 0, "no %s field in:\n%s", name, page)
	rest := page[i+len(marker):]
	return html.UnescapeString(rest[:strings.IndexByte(rest, '"')])
}

func jwtClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	require.Len(t, parts, 3)
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var claims map[string]any
	require.NoError(t, json.Unmarshal(raw, &claims))
	return claims
}
