package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Hydra is a real OIDC provider (Ory Hydra v2.3.0) for t: its own process
// on loopback ports, its own PostgreSQL database, JWT access tokens.
// HYDRA_BIN names the binary (`make test` builds it with scripts/hydra.sh);
// without it the test is skipped, except under CI, where it fails.
type Hydra struct {
	Issuer   string // the public URL, the tokens' iss
	AdminURL string
}

// HydraOptions adjust a test Hydra.
type HydraOptions struct {
	// LoginURL and ConsentURL are the login and consent UIs (default:
	// pages nobody serves; UserToken accepts both through the admin API).
	LoginURL, ConsentURL string
	// CORSOrigins may call the public endpoints from browsers (a web app's
	// token request).
	CORSOrigins []string
}

// StartHydra starts Hydra for t and stops it (by PID) when t ends.
func StartHydra(t *testing.T) *Hydra { return StartHydraWith(t, HydraOptions{}) }

// StartHydraWith starts Hydra with opts.
func StartHydraWith(t *testing.T, opts HydraOptions) *Hydra {
	t.Helper()
	Slow(t, "Ory Hydra")
	bin := os.Getenv("HYDRA_BIN")
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("HYDRA_BIN is not set: scripts/test.sh builds Hydra (scripts/hydra.sh)")
		}
		t.Skip("HYDRA_BIN is not set: run `make test`, or HYDRA_BIN=$(scripts/hydra.sh) go test ...")
	}
	public, admin := strconv.Itoa(freePort(t)), strconv.Itoa(freePort(t))
	h := &Hydra{Issuer: "http://127.0.0.1:" + public, AdminURL: "http://127.0.0.1:" + admin}
	dir := t.TempDir()
	if opts.LoginURL == "" {
		opts.LoginURL, opts.ConsentURL = h.Issuer+"/login-ui", h.Issuer+"/consent-ui"
	}
	origins, _ := json.Marshal(append([]string{}, opts.CORSOrigins...))
	config := fmt.Sprintf(`dsn: %q
serve:
  public:
    host: 127.0.0.1
    port: %s
    cors: {enabled: %t, allowed_origins: %s, allowed_methods: [GET, POST], allowed_headers: [Content-Type, Authorization]}
  admin: {host: 127.0.0.1, port: %s}
urls:
  self: {issuer: %q}
  login: %q
  consent: %q
secrets: {system: ["a-system-secret-for-tests-only-0123456789"]}
strategies: {access_token: jwt}
oauth2: {allowed_top_level_claims: [email, email_verified, name, groups]}
log: {level: warn}
`, strings.Replace(PostgresURL(t), "sslmode=disable", "sslmode=disable&max_conns=5", 1), public,
		len(opts.CORSOrigins) > 0, origins, admin, h.Issuer, opts.LoginURL, opts.ConsentURL)
	cfgPath := filepath.Join(dir, "hydra.yml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	migrate := exec.Command(bin, "migrate", "sql", "up", "-e", "--yes", "-c", cfgPath)
	if out, err := migrate.CombinedOutput(); err != nil {
		t.Fatalf("hydra migrate: %v\n%s", err, out)
	}
	logs := &SyncBuffer{}
	serve := exec.Command(bin, "serve", "all", "--dev", "--sqa-opt-out", "-c", cfgPath)
	serve.Stdout, serve.Stderr = logs, logs
	if err := serve.Start(); err != nil {
		t.Fatalf("hydra serve: %v", err)
	}
	t.Cleanup(func() {
		_ = serve.Process.Kill()
		_ = serve.Wait()
		if t.Failed() {
			t.Logf("hydra's log:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(h.Issuer + "/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return h
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("hydra did not become ready: %v\n%s", err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Client is an OAuth2 client registered with Hydra.
type Client struct {
	ID, Secret string
}

const redirectURI = "http://127.0.0.1:1/callback"

// CreateClient registers a client allowed the client-credentials and
// authorization-code grants for audience.
func (h *Hydra) CreateClient(t *testing.T, id, audience string) Client {
	t.Helper()
	return h.CreateClientWith(t, map[string]any{
		"client_id":                  id,
		"grant_types":                []string{"client_credentials", "authorization_code"},
		"response_types":             []string{"code"},
		"redirect_uris":              []string{redirectURI},
		"scope":                      "openid",
		"audience":                   []string{audience},
		"token_endpoint_auth_method": "client_secret_post",
		"access_token_strategy":      "jwt",
	})
}

// CreateClientWith registers the client described (Hydra's admin API).
func (h *Hydra) CreateClientWith(t *testing.T, client map[string]any) Client {
	t.Helper()
	var out struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	h.call(t, http.MethodPost, h.AdminURL+"/admin/clients", client, &out)
	return Client{ID: out.ClientID, Secret: out.ClientSecret}
}

// AcceptLogin accepts a login challenge for subject, as a login UI does,
// and returns where to send the browser.
func (h *Hydra) AcceptLogin(ctx context.Context, challenge, subject string) (string, error) {
	var out struct {
		RedirectTo string `json:"redirect_to"`
	}
	err := h.callErr(ctx, http.MethodPut, h.AdminURL+"/admin/oauth2/auth/requests/login/accept?login_challenge="+url.QueryEscape(challenge),
		map[string]any{"subject": subject}, &out)
	return out.RedirectTo, err
}

// AcceptConsent grants a consent challenge the scopes asked for and
// audience, with email (verified) and name in the access token, and
// returns where to send the browser.
func (h *Hydra) AcceptConsent(ctx context.Context, challenge, audience, email, name string) (string, error) {
	return h.AcceptConsentClaims(ctx, challenge, audience, map[string]any{"email": email, "email_verified": true, "name": name})
}

// AcceptConsentClaims is AcceptConsent with the access token's extra
// claims as given.
func (h *Hydra) AcceptConsentClaims(ctx context.Context, challenge, audience string, claims map[string]any) (string, error) {
	var asked struct {
		RequestedScope []string `json:"requested_scope"`
	}
	if err := h.callErr(ctx, http.MethodGet, h.AdminURL+"/admin/oauth2/auth/requests/consent?consent_challenge="+url.QueryEscape(challenge), nil, &asked); err != nil {
		return "", err
	}
	var out struct {
		RedirectTo string `json:"redirect_to"`
	}
	err := h.callErr(ctx, http.MethodPut, h.AdminURL+"/admin/oauth2/auth/requests/consent/accept?consent_challenge="+url.QueryEscape(challenge), map[string]any{
		"grant_scope":                 asked.RequestedScope,
		"grant_access_token_audience": []string{audience},
		"session":                     map[string]any{"access_token": claims},
	}, &out)
	return out.RedirectTo, err
}

// ServiceToken is a client-credentials access token for c (sub = c's ID).
func (h *Hydra) ServiceToken(t *testing.T, c Client, audience string) string {
	t.Helper()
	return h.token(t, url.Values{
		"grant_type": {"client_credentials"}, "client_id": {c.ID}, "client_secret": {c.Secret},
		"audience": {audience},
	})
}

// UserToken signs subject in through the authorization-code flow, its
// login and consent accepted through Hydra's admin API (as a login UI
// would), with email (verified) and name in the access token.
func (h *Hydra) UserToken(t *testing.T, c Client, audience, subject, email, name string) string {
	t.Helper()
	return h.UserTokenClaims(t, c, audience, subject, map[string]any{"email": email, "email_verified": true, "name": name})
}

// UserTokenClaims is UserToken with the access token's extra claims as
// given (an unverified email, say).
func (h *Hydra) UserTokenClaims(t *testing.T, c Client, audience, subject string, claims map[string]any) string {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	follow := func(u string) *url.URL {
		resp, err := browser.Get(u)
		if err != nil {
			t.Fatalf("hydra flow: %v", err)
		}
		resp.Body.Close()
		loc, err := resp.Location()
		if err != nil {
			t.Fatalf("hydra flow: %s answered %s without a redirect", u, resp.Status)
		}
		return loc
	}
	auth := h.Issuer + "/oauth2/auth?" + url.Values{
		"client_id": {c.ID}, "response_type": {"code"}, "redirect_uri": {redirectURI},
		"scope": {"openid"}, "state": {"state-of-the-test"}, "audience": {audience},
	}.Encode()
	login := follow(auth)
	next, err := h.AcceptLogin(context.Background(), login.Query().Get("login_challenge"), subject)
	if err != nil {
		t.Fatal(err)
	}
	consent := follow(next)
	if next, err = h.AcceptConsentClaims(context.Background(), consent.Query().Get("consent_challenge"), audience, claims); err != nil {
		t.Fatal(err)
	}
	callback := follow(next)
	code := callback.Query().Get("code")
	if code == "" {
		t.Fatalf("hydra flow: no code in %s", callback)
	}
	return h.token(t, url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI},
		"client_id": {c.ID}, "client_secret": {c.Secret},
	})
}

func (h *Hydra) token(t *testing.T, form url.Values) string {
	t.Helper()
	resp, err := http.PostForm(h.Issuer+"/oauth2/token", form)
	if err != nil {
		t.Fatalf("hydra token: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &out) != nil || out.AccessToken == "" {
		t.Fatalf("hydra token: %s: %s", resp.Status, body)
	}
	return out.AccessToken
}

func (h *Hydra) call(t *testing.T, method, u string, in, out any) {
	t.Helper()
	if err := h.callErr(context.Background(), method, u, in, out); err != nil {
		t.Fatal(err)
	}
}

// callErr calls Hydra's admin API (safe off the test's goroutine, e.g. in
// a login UI's handler).
func (h *Hydra) callErr(ctx context.Context, method, u string, in, out any) error {
	var body io.Reader
	if in != nil {
		raw, _ := json.Marshal(in)
		body = bytes.NewReader(raw)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return fmt.Errorf("hydra admin: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("hydra admin: %w", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 || json.Unmarshal(raw, out) != nil {
		return fmt.Errorf("hydra admin %s %s: %s: %s", method, u, resp.Status, raw)
	}
	return nil
}
