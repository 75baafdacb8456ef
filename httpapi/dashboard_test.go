package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"authz-gateway/access"
	"authz-gateway/internal/testenv"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The dashboard in a real browser: a CACHE_MANAGE token entered once, the
// charts drawn from live data while users make requests, the hit rate
// falling after invalidateAllCaches; a token without CACHE_MANAGE is
// refused. A screenshot goes to $TEST_ARTIFACTS.
func TestDashboard_InARealBrowser(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	srv := httptest.NewServer(g.Handler)
	t.Cleanup(srv.Close)
	w := testenv.NewWorld(t, g.DB.Client)
	a := w.Program("A")
	w.Project(a, "a1")
	tokens := make([]string, 60)
	for i := range tokens {
		u := w.User(fmt.Sprintf("dash%02d@test.example", i))
		w.Role(u, access.RoleViewer)
		w.InProgram(u, a)
		tokens[i] = g.Token(t, u)
	}
	viewer := tokens[0]

	// Traffic: every user asks about themselves, five times a second.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			for _, tok := range tokens {
				select {
				case <-stop:
					return
				default:
				}
				_ = g.Do(t, tok, `{ me { permissions accessiblePrograms { id } } }`, nil)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()
	t.Cleanup(func() { close(stop); wg.Wait() })

	ctx := offlineBrowser(t)
	poll := func(expr string) {
		t.Helper()
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(20*time.Second)))
		require.NoError(t, err, expr)
	}
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/dashboard"),
		chromedp.WaitVisible(chromedp.CSS(`#token`)),
		chromedp.SendKeys(chromedp.CSS(`#token`), g.Token(t, g.Admin.ID)),
		chromedp.Click(chromedp.CSS(`#login button`)),
	))
	poll(`window.dashboard.points >= 3 && document.querySelectorAll('canvas').length >= 4 && window.dashboard.lastHitRate > 0.9`)
	// The legends show the latest values without hovering (issue 19).
	poll(`[...document.querySelectorAll('#chart-hits .u-legend .u-series:not(:first-child) .u-value')].every((e) => e.textContent !== '--')`)
	before, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`window.dashboard.lastHitRate`))
	require.NoError(t, err)

	require.NoError(t, g.Authz.InvalidateAllCaches(testenv.AsUser(g.Admin.ID)))
	poll(`window.dashboard.lastHitRate < 0.9`)
	after, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`window.dashboard.lastHitRate`))
	require.NoError(t, err)
	t.Logf("hit rate on the dashboard: %.2f before invalidateAllCaches, %.2f right after", before, after)
	poll(`document.querySelector('#changes tbody').innerText.includes('invalidateAllCaches')`)
	// Who made each change, by name (issue 36, finding 9), and a rate's
	// axis that ends at 1, not 2.
	poll(`document.querySelector('#changes tbody').innerText.includes('` + testenv.AdminEmail + `')`)
	// and what it changed, by name too: "Dashboard Apollo (program 7)".
	created := testenv.MustOK(t, g.Do(t, g.Token(t, g.Admin.ID), `mutation { createProgram(input: {name: "Dashboard Apollo"}) { id } }`, nil))
	var program struct{ CreateProgram struct{ ID string } }
	require.NoError(t, json.Unmarshal(created.Data, &program))
	poll(`document.querySelector('#changes tbody').innerText.includes('Dashboard Apollo (program ` + program.CreateProgram.ID + `)')`)
	// A team's changes too: "Dashboard Platform (team 8), role VIEWER".
	var team struct{ CreateTeam struct{ ID string } }
	testenv.MustOK(t, g.Do(t, g.Token(t, g.Admin.ID), `mutation { createTeam(input: {name: "Dashboard Platform"}) { id } }`, nil)).Decode(t, &team)
	testenv.MustOK(t, g.Do(t, g.Token(t, g.Admin.ID), `mutation($t: ID!) { assignTeamRole(teamId: $t, role: VIEWER) { id } }`,
		map[string]any{"t": team.CreateTeam.ID}))
	poll(`document.querySelector('#changes tbody').innerText.includes('Dashboard Platform (team ` + team.CreateTeam.ID + `), role VIEWER')`)
	poll(`(() => { const u = window.dashboard.charts && window.dashboard.charts.hits; return !!u && u.scales.y.max <= 1; })()`)
	poll(`document.querySelector('#active').children.length > 0`)
	screenshot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	saveArtifact(t, "dashboard.png", screenshot)

	// Without CACHE_MANAGE: refused, on the page and over GraphQL.
	_, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`(sessionStorage.clear(), true)`))
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/dashboard"),
		chromedp.WaitVisible(chromedp.CSS(`#token`)),
		chromedp.SendKeys(chromedp.CSS(`#token`), viewer),
		chromedp.Click(chromedp.CSS(`#login button`)),
	))
	poll(`window.dashboard.refused !== null && document.querySelector('#status').innerText.includes('CACHE_MANAGE')`)
	for token, want := range map[string]string{viewer: "FORBIDDEN", "": "UNAUTHENTICATED"} {
		assert.Equal(t, []string{want}, g.Do(t, token, `{ cacheStats { hits } }`, nil).Codes())
	}
	// Its data is GraphQL's: there is no second read API beside it.
	assert.Equal(t, http.StatusNotFound, testenv.Serve(g.Handler, httptest.NewRequest(http.MethodGet, "/dashboard/data", nil)).Code)
}

// Finding 8 of issue 17: the dashboard's data is read as the viewer. A
// CACHE_MANAGE holder scoped to one program, without AUDIT_READ or
// USER_READ, sees neither the log (a grant in a hidden program) nor other
// users' emails; its own entry is all it gets of the active users.
func TestDashboard_DataIsReadAsTheViewer(t *testing.T) {
	testenv.Slow(t, "rate-limited dashboard traffic")
	g := testenv.NewGateway(t, testenv.Options{RateLimit: testenv.ProductionRateLimit()})
	w := testenv.NewWorld(t, g.DB.Client)
	p1, p2 := w.Program("P1"), w.Program("P2")
	manager := w.User("cache-manager@test.example")
	w.Role(manager, access.RoleViewer)
	w.InProgram(manager, p1)
	hidden := w.User("only-in-p2@test.example")
	admin := g.Token(t, g.Admin.ID)
	testenv.MustOK(t, g.Do(t, admin, `mutation { setRolePermissions(role: VIEWER, permissions: [PROGRAM_READ, PROJECT_READ, CACHE_MANAGE]) { id } }`, nil))
	testenv.MustOK(t, g.Do(t, admin, `mutation($u: ID!, $p: ID!) { assignScope(input: {userId: $u, scopeType: PROGRAM, programId: $p}) { id } }`,
		map[string]any{"u": itoa(hidden), "p": itoa(p2)}))
	managerToken := g.Token(t, manager)
	for _, tok := range []string{g.Token(t, hidden), managerToken, admin} {
		testenv.MustOK(t, g.Do(t, tok, `{ me { id } }`, nil)) // recently active
	}

	// The page's two questions (httpapi/dashboard/assets/dashboard.js).
	const statsQuery = `{ cacheStats { activeUsers { email } kinds { kind } } }`
	const changesQuery = `{ accessChanges(first: 10) { edges { node { operation } } } }`
	var stats struct {
		CacheStats struct {
			ActiveUsers []struct{ Email string }
			Kinds       []struct{ Kind string }
		}
	}
	emails := func() string { return fmt.Sprint(stats.CacheStats.ActiveUsers) }
	require.Eventually(t, func() bool {
		testenv.MustOK(t, g.Do(t, admin, statsQuery, nil)).Decode(t, &stats)
		return strings.Contains(emails(), "only-in-p2")
	}, 10*time.Second, 100*time.Millisecond, "the admin sees the active users")
	assert.NotEmpty(t, stats.CacheStats.Kinds)
	assert.Contains(t, string(testenv.MustOK(t, g.Do(t, admin, changesQuery, nil)).Data), "assignScope", "the admin reads the log")

	testenv.MustOK(t, g.Do(t, managerToken, statsQuery, nil)).Decode(t, &stats)
	assert.NotContains(t, emails(), "only-in-p2", "no USER_READ: no other users")
	assert.NotContains(t, emails(), testenv.AdminEmail)
	assert.Contains(t, emails(), "cache-manager@test.example", "oneself")
	assert.Equal(t, []string{"FORBIDDEN"}, g.Do(t, managerToken, changesQuery, nil).Codes(), "no AUDIT_READ: no log")

	assert.Equal(t, []string{"UNAUTHENTICATED"}, g.Do(t, "not-a-token", statsQuery, nil).Codes())
}

// The embedded assets are files, never a directory listing.
func TestDashboard_AssetsAreNotListed(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{Introspection: true})
	for _, path := range []string{"/dashboard/assets/", "/playground/"} {
		rec := testenv.Serve(g.Handler, httptest.NewRequest(http.MethodGet, path, nil))
		assert.Equal(t, http.StatusNotFound, rec.Code, path)
	}
}

// Browsers ask for /favicon.ico on every page: an icon, cached, not a 404
// (issue 36, finding 9).
func TestHTTP_Favicon(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	rec := testenv.Serve(g.Handler, httptest.NewRequest(http.MethodGet, "/favicon.ico", nil))
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "image/svg+xml", rec.Header().Get("Content-Type"))
	assert.Contains(t, rec.Body.String(), "<svg")
	assert.NotEmpty(t, rec.Header().Get("Cache-Control"))
}
