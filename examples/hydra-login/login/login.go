// Package login is a small login and consent app for Ory Hydra: the pages
// Hydra sends a person to during the authorization code flow. It signs in
// the people of a file (email, name, password), asks for consent, and puts
// the claims the gateway reads (email, email_verified, name, groups) in the
// access token Hydra issues.
//
// It is a development stand-in, for trying the gateway's provider sign-in
// (and the example web app's "Sign in with your identity provider") on one
// machine. Production sign-in is your identity provider's own pages
// (Keycloak, Ory Kratos, Okta...): this app keeps passwords in a file and
// does not limit guesses.
//
// It follows Hydra's documented login and consent flow: read the request
// with its challenge from the admin API, accept or reject it there, and send
// the browser where Hydra says. The forms need no CSRF token of their own:
// Hydra binds each challenge to the browser that started the flow (its CSRF
// cookie), so a challenge posted from elsewhere leads nowhere.
package login

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Person is someone who may sign in.
type Person struct {
	Email    string   `json:"email"`
	Name     string   `json:"name"`
	Password string   `json:"password"`
	Groups   []string `json:"groups,omitempty"`
}

// Config is what the app needs.
type Config struct {
	// HydraAdminURL is Hydra's admin API (http://127.0.0.1:4445).
	HydraAdminURL string
	// Audience is granted to every access token: the gateway's
	// AUTH_AUDIENCE.
	Audience string
	// People may sign in, by email (compared case-insensitively).
	People []Person
	// HTTPClient calls Hydra (default: 10 s timeout).
	HTTPClient *http.Client
}

// New returns the app's handler: GET and POST /login, GET and POST
// /consent.
func New(cfg Config) (http.Handler, error) {
	if cfg.HydraAdminURL == "" || cfg.Audience == "" {
		return nil, errors.New("login: the Hydra admin URL and the audience are required")
	}
	a := &app{cfg: cfg, people: map[string]Person{}}
	for _, p := range cfg.People {
		if p.Email == "" || p.Password == "" {
			return nil, fmt.Errorf("login: person %q needs an email and a password", p.Name)
		}
		a.people[strings.ToLower(p.Email)] = p
	}
	if a.cfg.HTTPClient == nil {
		a.cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", a.loginPage)
	mux.HandleFunc("POST /login", a.login)
	mux.HandleFunc("GET /consent", a.consentPage)
	mux.HandleFunc("POST /consent", a.consent)
	return mux, nil
}

// LoadPeople reads a JSON array of people.
func LoadPeople(r io.Reader) ([]Person, error) {
	var people []Person
	if err := json.NewDecoder(r).Decode(&people); err != nil {
		return nil, fmt.Errorf("login: read people: %w", err)
	}
	return people, nil
}

type app struct {
	cfg    Config
	people map[string]Person
}

// flow is the part of Hydra's login or consent request the pages use.
type flow struct {
	Skip    bool   `json:"skip"`
	Subject string `json:"subject"`
	Client  struct {
		ID   string `json:"client_id"`
		Name string `json:"client_name"`
	} `json:"client"`
	RequestedScope []string `json:"requested_scope"`
}

func (a *app) loginPage(w http.ResponseWriter, r *http.Request) {
	challenge := r.URL.Query().Get("login_challenge")
	var f flow
	if err := a.hydra(r.Context(), http.MethodGet, "login", challenge, "", nil, &f); err != nil {
		a.fail(w, err)
		return
	}
	if f.Skip { // Hydra remembers this browser's sign-in
		a.answer(w, r, "login", "accept", challenge, map[string]any{"subject": f.Subject})
		return
	}
	render(w, http.StatusOK, loginForm, page{Challenge: challenge, Client: clientName(f)})
}

func (a *app) login(w http.ResponseWriter, r *http.Request) {
	challenge := r.PostFormValue("challenge")
	if r.PostFormValue("action") == "deny" {
		a.answer(w, r, "login", "reject", challenge, rejection("the person declined to sign in"))
		return
	}
	email := strings.TrimSpace(r.PostFormValue("email"))
	p, ok := a.people[strings.ToLower(email)]
	if !ok || !samePassword(p.Password, r.PostFormValue("password")) {
		render(w, http.StatusUnauthorized, loginForm, page{Challenge: challenge, Email: email, Error: "Unknown email or wrong password."})
		return
	}
	a.answer(w, r, "login", "accept", challenge, map[string]any{"subject": strings.ToLower(p.Email)})
}

func (a *app) consentPage(w http.ResponseWriter, r *http.Request) {
	challenge := r.URL.Query().Get("consent_challenge")
	var f flow
	if err := a.hydra(r.Context(), http.MethodGet, "consent", challenge, "", nil, &f); err != nil {
		a.fail(w, err)
		return
	}
	if f.Skip {
		a.grant(w, r, challenge, f)
		return
	}
	render(w, http.StatusOK, consentForm, page{Challenge: challenge, Client: clientName(f), Scopes: f.RequestedScope, Audience: a.cfg.Audience})
}

func (a *app) consent(w http.ResponseWriter, r *http.Request) {
	challenge := r.PostFormValue("challenge")
	if r.PostFormValue("action") != "allow" {
		a.answer(w, r, "consent", "reject", challenge, rejection("the person did not allow access"))
		return
	}
	var f flow
	if err := a.hydra(r.Context(), http.MethodGet, "consent", challenge, "", nil, &f); err != nil {
		a.fail(w, err)
		return
	}
	a.grant(w, r, challenge, f)
}

// grant accepts the consent with the scopes asked for, the gateway's
// audience and the person's claims in the access token: the email is
// verified, since the person proved they hold it here (by the password the
// file gives them).
func (a *app) grant(w http.ResponseWriter, r *http.Request, challenge string, f flow) {
	p, ok := a.people[f.Subject]
	if !ok {
		a.answer(w, r, "consent", "reject", challenge, rejection("unknown person"))
		return
	}
	claims := map[string]any{"email": strings.ToLower(p.Email), "email_verified": true, "name": p.Name}
	if len(p.Groups) > 0 {
		claims["groups"] = p.Groups
	}
	a.answer(w, r, "consent", "accept", challenge, map[string]any{
		"grant_scope":                 f.RequestedScope,
		"grant_access_token_audience": []string{a.cfg.Audience},
		"session":                     map[string]any{"access_token": claims, "id_token": claims},
	})
}

func rejection(why string) map[string]any {
	return map[string]any{"error": "access_denied", "error_description": why}
}

// answer accepts or rejects (verb) a login or consent request and sends
// the browser where Hydra says.
func (a *app) answer(w http.ResponseWriter, r *http.Request, kind, verb, challenge string, body map[string]any) {
	var next struct {
		RedirectTo string `json:"redirect_to"`
	}
	if err := a.hydra(r.Context(), http.MethodPut, kind, challenge, verb, body, &next); err != nil {
		a.fail(w, err)
		return
	}
	http.Redirect(w, r, next.RedirectTo, http.StatusFound)
}

// hydra calls /admin/oauth2/auth/requests/{kind}[/{verb}]?{kind}_challenge=.
func (a *app) hydra(ctx context.Context, method, kind, challenge, verb string, in, out any) error {
	if challenge == "" {
		return errBadChallenge
	}
	u := strings.TrimRight(a.cfg.HydraAdminURL, "/") + "/admin/oauth2/auth/requests/" + kind
	if verb != "" {
		u += "/" + verb
	}
	u += "?" + url.Values{kind + "_challenge": {challenge}}.Encode()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("login: encode: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.cfg.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("login: call Hydra: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone || resp.StatusCode == http.StatusBadRequest:
		return fmt.Errorf("%w: Hydra answered %s: %s", errBadChallenge, resp.Status, b)
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("login: Hydra answered %s: %s", resp.Status, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("login: decode Hydra's answer: %w", err)
	}
	return nil
}

var errBadChallenge = errors.New("login: unknown or expired sign-in request")

func (a *app) fail(w http.ResponseWriter, err error) {
	if errors.Is(err, errBadChallenge) {
		slog.Info("login: refused a sign-in request", "err", err)
		render(w, http.StatusBadRequest, message, page{Error: "This sign-in request is unknown or has expired: start again from the app."})
		return
	}
	slog.Error("login: Hydra call failed", "err", err)
	render(w, http.StatusBadGateway, message, page{Error: "The identity provider did not answer: try again in a moment."})
}

func samePassword(want, got string) bool {
	w, g := sha256.Sum256([]byte(want)), sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(w[:], g[:]) == 1
}

func clientName(f flow) string {
	if f.Client.Name != "" {
		return f.Client.Name
	}
	return f.Client.ID
}

type page struct {
	Challenge, Client, Email, Error, Audience string
	Scopes                                    []string
}

func render(w http.ResponseWriter, status int, t *template.Template, p page) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	// No form-action: browsers apply it to the redirects after a form is
	// posted too, and every post here ends in a redirect to Hydra.
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	w.WriteHeader(status)
	if err := t.Execute(w, p); err != nil {
		slog.Error("login: render", "err", err)
	}
}

const layout = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign in</title>
<style>body{font:16px system-ui,sans-serif;max-width:24rem;margin:4rem auto;padding:0 1rem}
label{display:block;margin:.8rem 0}input{display:block;width:100%;padding:.4rem;box-sizing:border-box}
button{margin:.8rem .5rem 0 0;padding:.4rem 1rem}.error{color:#b00020}</style></head><body>`

var (
	loginForm = template.Must(template.New("login").Parse(layout + `<h1>Sign in</h1>
<p>to continue to {{.Client}}</p>
{{with .Error}}<p class="error" id="error">{{.}}</p>{{end}}
<form method="post" action="/login">
<input type="hidden" name="challenge" value="{{.Challenge}}">
<label>Email<input id="email" name="email" type="email" autocomplete="username" value="{{.Email}}" required autofocus></label>
<label>Password<input id="password" name="password" type="password" autocomplete="current-password" required></label>
<button id="sign-in" name="action" value="sign-in">Sign in</button><button name="action" value="deny" formnovalidate>Cancel</button>
</form></body></html>`))
	consentForm = template.Must(template.New("consent").Parse(layout + `<h1>Allow {{.Client}}?</h1>
<p>{{.Client}} asks to act as you towards <b>{{.Audience}}</b>, with:</p>
<ul>{{range .Scopes}}<li>{{.}}</li>{{end}}</ul>
<form method="post" action="/consent">
<input type="hidden" name="challenge" value="{{.Challenge}}">
<button id="allow" name="action" value="allow">Allow</button><button id="deny" name="action" value="deny">Deny</button>
</form></body></html>`))
	message = template.Must(template.New("message").Parse(layout + `<h1>Sign in</h1><p class="error">{{.Error}}</p></body></html>`))
)
