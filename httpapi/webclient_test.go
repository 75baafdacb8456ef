package httpapi_test

import (
	"authz-gateway/examples/hydra-login/login"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"authz-gateway/app"
	"authz-gateway/auth"
	"authz-gateway/ent/user"
	"authz-gateway/internal/testenv"
	"authz-gateway/reqctx"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// webClientDist is the built example app (examples/web-client, `npm run
// build`; scripts/test.sh builds it and sets WEB_CLIENT=1, so CI cannot
// skip this test).
func webClientDist(t *testing.T) string {
	dist, err := filepath.Abs("../examples/web-client/dist")
	require.NoError(t, err)
	if _, err := os.Stat(filepath.Join(dist, "index.html")); err != nil {
		if os.Getenv("WEB_CLIENT") == "1" {
			t.Fatalf("the web client is not built: %v", err)
		}
		t.Skip("the web client is not built (cd examples/web-client && npm ci && npm run build)")
	}
	return dist
}

// pageActions act on the page as it is at that instant: the app rebuilds
// its nodes on every change (a push, a page loaded), so no node is held
// between steps; each action waits for its element, then uses it at once.
type pageActions struct {
	t       *testing.T
	browser context.Context
}

func (a pageActions) act(selector, script string) {
	a.t.Helper()
	_, err := chromedp.Run(a.browser, chromedp.Poll[bool](fmt.Sprintf(
		`(() => { const el = document.querySelector(%q); if (!el) return null; %s; return true; })()`, selector, script),
		chromedp.WithPollingTimeout(10*time.Second)))
	require.NoError(a.t, err, "%s", selector)
}

func (a pageActions) click(selector string) { a.act(selector, "el.click()") }

func (a pageActions) fill(selector, value string) {
	a.act(selector, fmt.Sprintf(`el.value = %q; el.dispatchEvent(new Event('input', {bubbles: true}))`, value))
}

// text waits for an element and returns its text.
func (a pageActions) text(selector string) string {
	a.t.Helper()
	got, err := chromedp.Run(a.browser, chromedp.Poll[string](fmt.Sprintf(`document.querySelector(%q)?.textContent`, selector),
		chromedp.WithPollingTimeout(10*time.Second)))
	require.NoError(a.t, err, "%s", selector)
	return got
}

// webRow is a row of the app's projects list, as the page shows it.
type webRow struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Rename bool   `json:"rename"`
}

const readRows = `[...document.querySelectorAll('#projects li.row')].map(r => ({
	id: r.dataset.id, name: r.querySelector('.name')?.textContent ?? '', rename: !!r.querySelector('button.rename') }))`

// TestWebClient_InARealBrowser: the example app, built as shipped and served
// on the gateway's origin (as `npm run dev` proxies it), in Chromium with no
// network beyond loopback. A project lead signs in with a token, sees their
// rows with a rename button exactly where checkAccess allows it, renames a
// project, and watches the row leave and come back exactly once while the
// admin revokes and re-grants the scope through the API (accessChanged);
// deactivated, they end on the sign-in screen. Every request the page made
// went to loopback.
func TestWebClient_InARealBrowser(t *testing.T) {
	dist := webClientDist(t)
	g := testenv.NewGateway(t, testenv.Options{RateLimit: testenv.ProductionRateLimit()})
	ctx := reqctx.NewContextWithSystem(context.Background())
	_, err := g.DB.SeedDemo(ctx)
	require.NoError(t, err)
	lead := g.DB.Client.User.Query().Where(user.Email("lead.lander@example.com")).OnlyX(ctx)
	leadToken, admin := g.Token(t, lead.ID), g.Token(t, g.Admin.ID)

	// The app and the gateway on one origin, as the dev server serves them.
	mux := http.NewServeMux()
	mux.Handle("/graphql", g.Handler)
	mux.Handle("/", http.FileServer(http.Dir(dist)))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	// What the page should show, from the API.
	var want struct {
		Projects struct {
			Edges []struct{ Node struct{ ID, Name string } }
		}
	}
	testenv.MustOK(t, g.Do(t, leadToken, `{ projects(first: 100, orderBy: {field: NAME}) { edges { node { id name } } } }`, nil)).Decode(t, &want)
	require.NotEmpty(t, want.Projects.Edges)
	var checks []map[string]any
	for _, e := range want.Projects.Edges {
		checks = append(checks, map[string]any{"userId": fmt.Sprint(lead.ID), "permission": "PROJECT_WRITE", "on": e.Node.ID})
	}
	var can struct{ CheckAccess []bool }
	testenv.MustOK(t, g.Do(t, leadToken, `query($c: [AccessCheckInput!]!) { checkAccess(checks: $c) }`, map[string]any{"c": checks})).Decode(t, &can)

	browser := offlineBrowser(t)
	var mu sync.Mutex
	var requested []string
	note := func(u string) {
		mu.Lock()
		defer mu.Unlock()
		requested = append(requested, u)
	}
	requests, sockets := chromedp.Events(browser, network.RequestWillBeSent), chromedp.Events(browser, network.WebSocketCreated)
	go func() {
		for ev, err := range requests {
			if err != nil {
				return
			}
			note(ev.Request.URL)
		}
	}()
	go func() {
		for ev, err := range sockets {
			if err != nil {
				return
			}
			note(ev.URL)
		}
	}()

	rows := func() []webRow {
		t.Helper()
		got, err := chromedp.Run(browser, chromedp.Evaluate[[]webRow](readRows))
		require.NoError(t, err)
		return got
	}
	page := pageActions{t: t, browser: browser}
	// waitRows polls the page until ok holds for its rows.
	waitRows := func(what string, ok func([]webRow) bool) time.Duration {
		t.Helper()
		start := time.Now()
		for deadline := start.Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if ok(rows()) {
				return time.Since(start)
			}
		}
		t.Fatalf("%s: the page shows %+v", what, rows())
		return 0
	}

	require.NoError(t, chromedp.Do(browser, chromedp.EmulateViewport(1000, 760), chromedp.Navigate(srv.URL+"/")))
	page.fill(`#token`, leadToken)
	page.click(`#sign-in`)
	waitRows("signed in", func(r []webRow) bool { return len(r) == len(want.Projects.Edges) })
	shown := rows()
	for i, e := range want.Projects.Edges {
		assert.Equal(t, e.Node.ID, shown[i].ID)
		assert.Equal(t, e.Node.Name, shown[i].Name)
		assert.Equal(t, can.CheckAccess[i], shown[i].Rename, "rename shows exactly where checkAccess allows it: %s", e.Node.Name)
	}
	assert.Contains(t, page.text(`#who`), "lead.lander@example.com")

	// "why?" explains the button.
	target := shown[0]
	require.True(t, target.Rename, "the lead may rename their project")
	row := fmt.Sprintf(`#projects li.row[data-id="%s"]`, target.ID)
	page.click(row + ` a.why`)
	assert.Contains(t, page.text(row+` .why-box`), "PROJECT_MANAGER")

	// Rename it in the page; the gateway has the new name.
	page.click(row + ` button.rename`)
	page.fill(row+` input.rename-input`, "Lunar Lander II")
	page.click(row + ` button.save`)
	waitRows("renamed", func(r []webRow) bool { return len(r) > 0 && r[0].Name == "Lunar Lander II" })
	var renamed struct{ Node struct{ Name string } }
	testenv.MustOK(t, g.Do(t, admin, `query($id: ID!) { node(id: $id) { ... on Project { name } } }`, map[string]any{"id": target.ID})).Decode(t, &renamed)
	assert.Equal(t, "Lunar Lander II", renamed.Node.Name)

	// The admin revokes the lead's scope on it, then grants it again: the
	// row leaves, then comes back exactly once (accessChanged, no reload).
	var scopes struct {
		Node struct {
			ScopeAssignments []struct {
				ID      string
				Project *struct{ ID string }
			}
		}
	}
	testenv.MustOK(t, g.Do(t, admin, `query($id: ID!) { node(id: $id) { ... on User { scopeAssignments { id project { id } } } } }`,
		map[string]any{"id": fmt.Sprint(lead.ID)})).Decode(t, &scopes)
	var scope string
	for _, s := range scopes.Node.ScopeAssignments {
		if s.Project != nil && s.Project.ID == target.ID {
			scope = s.ID
		}
	}
	require.NotEmpty(t, scope)
	count := func(r []webRow) int {
		n := 0
		for _, x := range r {
			if x.ID == target.ID {
				n++
			}
		}
		return n
	}
	testenv.MustOK(t, g.Do(t, admin, `mutation($id: ID!) { deactivateScope(id: $id) { id } }`, map[string]any{"id": scope}))
	left := waitRows("the revoked row leaves", func(r []webRow) bool { return count(r) == 0 })
	testenv.MustOK(t, g.Do(t, admin, `mutation($id: ID!) { activateScope(id: $id) { id } }`, map[string]any{"id": scope}))
	back := waitRows("the re-granted row comes back", func(r []webRow) bool { return count(r) == 1 })
	time.Sleep(1500 * time.Millisecond) // any late push would duplicate it now
	assert.Equal(t, 1, count(rows()), "exactly once")
	assert.Len(t, rows(), len(want.Projects.Edges))
	t.Logf("the row left %v after the revoke and came back %v after the grant", left.Round(time.Millisecond), back.Round(time.Millisecond))

	// A PROGRAM scope on Apollo and a dozen new projects in it: the push
	// brings a first page of 10 and "Load more" the rest, each once, each
	// with its rename button (PROJECT_MANAGER over the whole program).
	var apollo struct {
		Node struct{ Program struct{ ID string } }
	}
	testenv.MustOK(t, g.Do(t, admin, `query($id: ID!) { node(id: $id) { ... on Project { program { id } } } }`, map[string]any{"id": target.ID})).Decode(t, &apollo)
	for i := range 12 {
		testenv.MustOK(t, g.Do(t, admin, `mutation($p: ID!, $n: String!) { createProject(input: {programID: $p, name: $n}) { id } }`,
			map[string]any{"p": apollo.Node.Program.ID, "n": fmt.Sprintf("Probe %02d", i+1)}))
	}
	// Through a team: the lead joins "Apollo crew", which holds the scope.
	var crew struct{ CreateTeam struct{ ID string } }
	testenv.MustOK(t, g.Do(t, admin, `mutation { createTeam(input: {name: "Apollo crew"}) { id } }`, nil)).Decode(t, &crew)
	testenv.MustOK(t, g.Do(t, admin, `mutation($t: ID!, $p: ID!) { assignScope(input: {teamId: $t, scopeType: PROGRAM, programId: $p}) { id } }`,
		map[string]any{"t": crew.CreateTeam.ID, "p": apollo.Node.Program.ID}))
	testenv.MustOK(t, g.Do(t, admin, `mutation($t: ID!, $u: ID!) { addTeamMember(teamId: $t, userId: $u) { id } }`,
		map[string]any{"t": crew.CreateTeam.ID, "u": fmt.Sprint(lead.ID)}))
	waitRows("the first page after the grant", func(r []webRow) bool { return len(r) == 10 })
	page.click(`#projects button.more`)
	all := waitRows("every project after load more", func(r []webRow) bool { return len(r) == 3+12 })
	seen := map[string]bool{}
	for _, r := range rows() {
		assert.False(t, seen[r.ID], "row %s shown twice", r.Name)
		seen[r.ID] = true
		assert.True(t, r.Rename, "%s: writable through the PROGRAM scope", r.Name)
	}
	t.Logf("load more took %v", all.Round(time.Millisecond))
	// "why?" on a project of the program names the team.
	now := rows()
	probe := fmt.Sprintf(`#projects li.row[data-id="%s"]`, now[len(now)-1].ID)
	page.click(probe + ` a.why`)
	assert.Contains(t, page.text(probe+` .why-box`), "PROGRAM Apollo (through team Apollo crew)")

	screenshot, err := chromedp.Run(browser, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	saveArtifact(t, "web-client.png", screenshot)

	// Deactivated, the lead ends on the sign-in screen, told why.
	testenv.MustOK(t, g.Do(t, admin, `mutation($id: ID!) { updateUser(id: $id, input: {active: false}) { id } }`, map[string]any{"id": fmt.Sprint(lead.ID)}))
	assert.Contains(t, page.text(`.sign-in .error`), "signed out")

	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, requested)
	sawSocket := false
	for _, raw := range requested {
		u, err := url.Parse(raw)
		require.NoError(t, err)
		if u.Scheme == "data" {
			continue
		}
		sawSocket = sawSocket || u.Scheme == "ws"
		assert.Equal(t, "127.0.0.1", u.Hostname(), "the page requested %s", raw)
	}
	assert.True(t, sawSocket, "the page opened the graphql-ws socket: %s", strings.Join(requested, " "))
}

// TestWebClient_SignInWithTheIdentityProvider: the same build, configured
// by a config.json beside it, signs a person in through a real Ory Hydra
// (authorization code with PKCE, a public client) and the example login and
// consent app (examples/hydra-login), the way docs/identity.md runs them: a
// wrong password is refused on the page, the right one and "Allow" lead back
// to the app, which shows the person's data: the gateway maps the provider's
// token to the user by email.
func TestWebClient_SignInWithTheIdentityProvider(t *testing.T) {
	dist := webClientDist(t)
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux) // the app's origin: Hydra must know it
	t.Cleanup(srv.Close)
	// Hydra needs the login app's address, the login app Hydra's.
	var loginApp http.Handler
	loginUI := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { loginApp.ServeHTTP(w, r) }))
	t.Cleanup(loginUI.Close)
	hydra := testenv.StartHydraWith(t, testenv.HydraOptions{
		LoginURL: loginUI.URL + "/login", ConsentURL: loginUI.URL + "/consent", CORSOrigins: []string{srv.URL}})
	f, err := os.Open("../examples/hydra-login/people.json")
	require.NoError(t, err)
	people, err := login.LoadPeople(f)
	f.Close()
	require.NoError(t, err)
	loginApp, err = login.New(login.Config{HydraAdminURL: hydra.AdminURL, Audience: audience, People: people})
	require.NoError(t, err)
	client := hydra.CreateClientWith(t, map[string]any{
		"client_id": "web-app", "grant_types": []string{"authorization_code"}, "response_types": []string{"code"},
		"redirect_uris": []string{srv.URL + "/"}, "scope": "openid email profile", "audience": []string{audience},
		"token_endpoint_auth_method": "none", "access_token_strategy": "jwt",
	})
	g := testenv.NewGateway(t, testenv.Options{RateLimit: testenv.ProductionRateLimit(),
		Identity: app.IdentityProvider{Issuer: hydra.Issuer, Audience: audience, UserClaim: auth.ClaimEmail}})
	_, err = g.DB.SeedDemo(reqctx.NewContextWithSystem(context.Background()))
	require.NoError(t, err)
	config, _ := json.Marshal(map[string]any{"gatewayURL": "/graphql", "provider": map[string]string{
		"issuer": hydra.Issuer, "clientId": client.ID, "audience": audience, "scope": "openid email profile"}})
	mux.Handle("/graphql", g.Handler)
	mux.HandleFunc("/config.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(config)
	})
	mux.Handle("/", http.FileServer(http.Dir(dist)))

	browser := offlineBrowser(t)
	page := pageActions{t: t, browser: browser}
	require.NoError(t, chromedp.Do(browser, chromedp.Navigate(srv.URL+"/")))
	page.click(`#sign-in-provider`)
	// Hydra sends the browser to the login app (each step a navigation:
	// wait for the next page's element before acting on it).
	arrive := func(selector string) {
		t.Helper()
		require.NoError(t, chromedp.Do(browser, chromedp.WaitVisible(chromedp.CSS(selector))), selector)
	}
	arrive(`#password`)
	page.fill(`#email`, "Lead.Lander@example.com")
	page.fill(`#password`, "not-her-password")
	page.click(`#sign-in`)
	arrive(`#error`)
	assert.Contains(t, page.text(`#error`), "wrong password")
	page.fill(`#password`, "grace-dev-only")
	page.click(`#sign-in`)
	arrive(`#allow`)
	page.click(`#allow`)
	// Through Hydra and back: the page navigates several times.
	require.NoError(t, chromedp.Do(browser, chromedp.WaitVisible(chromedp.CSS(`#projects li.row`))))
	assert.Contains(t, page.text(`#who`), "lead.lander@example.com")
	// The token the page holds is Hydra's, not one the gateway minted.
	iss, err := chromedp.Run(browser, chromedp.Evaluate[string](
		`JSON.parse(atob(sessionStorage.getItem('authz-gateway.token').split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))).iss`))
	require.NoError(t, err)
	assert.True(t, auth.SameIssuer(iss, hydra.Issuer), "iss %q", iss)
	address, err := chromedp.Run(browser, chromedp.Evaluate[string](`location.href`))
	require.NoError(t, err)
	assert.Equal(t, srv.URL+"/", address, "the code and state are gone from the address")
}

// TestWebClient_FromAnotherOrigin: the same build served from its own
// origin, calling a gateway on another that lists it in CORS_ORIGINS (the
// way `npm run build` output is deployed): requests (with their preflight)
// and the socket both work, and a revoke reaches the page live.
func TestWebClient_FromAnotherOrigin(t *testing.T) {
	dist := webClientDist(t)
	site := http.NewServeMux()
	appSrv := httptest.NewServer(site)
	t.Cleanup(appSrv.Close)
	g := testenv.NewGateway(t, testenv.Options{RateLimit: testenv.ProductionRateLimit(), CORSOrigins: []string{appSrv.URL}})
	ctx := reqctx.NewContextWithSystem(context.Background())
	_, err := g.DB.SeedDemo(ctx)
	require.NoError(t, err)
	gatewaySrv := httptest.NewServer(g.Handler)
	t.Cleanup(gatewaySrv.Close)
	config, _ := json.Marshal(map[string]any{"gatewayURL": gatewaySrv.URL + "/graphql"})
	site.HandleFunc("/config.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(config)
	})
	site.Handle("/", http.FileServer(http.Dir(dist)))
	lead := g.DB.Client.User.Query().Where(user.Email("lead.lander@example.com")).OnlyX(ctx)

	browser := offlineBrowser(t)
	page := pageActions{t: t, browser: browser}
	require.NoError(t, chromedp.Do(browser, chromedp.Navigate(appSrv.URL+"/")))
	page.fill(`#token`, g.Token(t, lead.ID))
	page.click(`#sign-in`)
	page.text(`#projects li.row`)
	// The lead's only scope, revoked by the admin: the page empties live.
	var scopes struct {
		Node struct{ ScopeAssignments []struct{ ID string } }
	}
	admin := g.Token(t, g.Admin.ID)
	testenv.MustOK(t, g.Do(t, admin, `query($id: ID!) { node(id: $id) { ... on User { scopeAssignments { id } } } }`,
		map[string]any{"id": fmt.Sprint(lead.ID)})).Decode(t, &scopes)
	require.Len(t, scopes.Node.ScopeAssignments, 1)
	testenv.MustOK(t, g.Do(t, admin, `mutation($id: ID!) { deactivateScope(id: $id) { id } }`, map[string]any{"id": scopes.Node.ScopeAssignments[0].ID}))
	assert.Contains(t, page.text(`#projects .empty`), "No projects", "the push reached the page across origins")
}

// The app's first request fails (here: the gateway config.json names is
// down): the page says what went wrong, the URL it tried and the usual fix
// (CORS_ORIGINS), and offers to try again, instead of staying on
// "Loading..." forever (issue 36, finding 6). Trying again once the
// gateway answers signs in.
func TestWebClient_SaysWhenTheGatewayDoesNotAnswer(t *testing.T) {
	dist := webClientDist(t)
	g := testenv.NewGateway(t, testenv.Options{})
	var up atomic.Bool
	mux := http.NewServeMux()
	// The gateway, behind a switch: down, it answers as a dead upstream.
	mux.Handle("/gw/", http.StripPrefix("/gw", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !up.Load() {
			http.Error(w, "bad gateway", http.StatusBadGateway)
			return
		}
		g.Handler.ServeHTTP(w, r)
	})))
	mux.HandleFunc("/config.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"gatewayURL": "/gw/graphql"}`)
	})
	mux.Handle("/", http.FileServer(http.Dir(dist)))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	browser := offlineBrowser(t)
	page := pageActions{t: t, browser: browser}
	require.NoError(t, chromedp.Do(browser, chromedp.Navigate(srv.URL+"/")))
	page.fill(`#token`, g.Token(t, g.Admin.ID))
	page.click(`#sign-in`)
	poll := func(expr string) {
		t.Helper()
		_, err := chromedp.Run(browser, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(20*time.Second)))
		require.NoError(t, err, expr)
	}
	poll(`document.querySelector('#unreachable') !== null`)
	text, err := chromedp.Run(browser, chromedp.Evaluate[string](`document.querySelector('#unreachable').innerText`))
	require.NoError(t, err)
	assert.Contains(t, text, "did not answer")
	assert.Contains(t, text, "/gw/graphql", "the URL it tried")
	assert.Contains(t, text, "CORS_ORIGINS="+srv.URL, "the fix for another origin")
	assert.NotContains(t, text, "Loading...")

	up.Store(true)
	page.click(`#retry`)
	poll(`document.querySelector('#unreachable') === null && document.querySelector('section.summary') !== null`)
}
