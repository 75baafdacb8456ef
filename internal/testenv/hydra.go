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

// StartHydra starts Hydra for t and stops it (by PID) when t ends.
func StartHydra(t *testing.T) *Hydra {
	t.Helper()
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
	config := fmt.Sprintf(`dsn: %q
serve:
  public: {host: 127.0.0.1, port: %s}
  admin: {host: 127.0.0.1, port: %s}
urls:
  self: {issuer: %q}
  login: %q
  consent: %q
secrets: {system: ["a-system-secret-for-tests-only-0123456789"]}
strategies: {access_token: jwt}
oauth2: {allowed_top_level_claims: [email, name]}
log: {level: warn}
`, strings.Replace(PostgresURL(t), "sslmode=disable", "sslmode=disable&max_conns=5", 1), public, admin,
		h.Issuer, h.Issuer+"/login-ui", h.Issuer+"/consent-ui")
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
	var out struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	h.call(t, http.MethodPost, h.AdminURL+"/admin/clients", map[string]any{
		"client_id":                  id,
		"grant_types":                []string{"client_credentials", "authorization_code"},
		"response_types":             []string{"code"},
		"redirect_uris":              []string{redirectURI},
		"scope":                      "openid",
		"audience":                   []string{audience},
		"token_endpoint_auth_method": "client_secret_post",
		"access_token_strategy":      "jwt",
	}, &out)
	return Client{ID: out.ClientID, Secret: out.ClientSecret}
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
// would), with email and name in the access token.
func (h *Hydra) UserToken(t *testing.T, c Client, audience, subject, email, name string) string {
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
	var accepted struct {
		RedirectTo string `json:"redirect_to"`
	}
	h.call(t, http.MethodPut, h.AdminURL+"/admin/oauth2/auth/requests/login/accept?login_challenge="+
		url.QueryEscape(login.Query().Get("login_challenge")), map[string]any{"subject": subject}, &accepted)
	consent := follow(accepted.RedirectTo)
	h.call(t, http.MethodPut, h.AdminURL+"/admin/oauth2/auth/requests/consent/accept?consent_challenge="+
		url.QueryEscape(consent.Query().Get("consent_challenge")), map[string]any{
		"grant_scope":                 []string{"openid"},
		"grant_access_token_audience": []string{audience},
		"session":                     map[string]any{"access_token": map[string]any{"email": email, "name": name}},
	}, &accepted)
	callback := follow(accepted.RedirectTo)
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
	body, _ := json.Marshal(in)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("hydra admin: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 || json.Unmarshal(raw, out) != nil {
		t.Fatalf("hydra admin %s %s: %s: %s", method, u, resp.Status, raw)
	}
}
