package httpapi_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
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
	before, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`window.dashboard.lastHitRate`))
	require.NoError(t, err)

	require.NoError(t, g.Authz.InvalidateAllCaches(testenv.AsUser(g.Admin.ID)))
	poll(`window.dashboard.lastHitRate < 0.9`)
	after, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`window.dashboard.lastHitRate`))
	require.NoError(t, err)
	t.Logf("hit rate on the dashboard: %.2f before invalidateAllCaches, %.2f right after", before, after)
	poll(`document.querySelector('#changes tbody').innerText.includes('invalidateAllCaches')`)
	poll(`document.querySelector('#active').children.length > 0`)
	screenshot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	saveArtifact(t, "dashboard.png", screenshot)

	// Without CACHE_MANAGE: refused, on the page and over HTTP.
	_, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`(sessionStorage.clear(), true)`))
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/dashboard"),
		chromedp.WaitVisible(chromedp.CSS(`#token`)),
		chromedp.SendKeys(chromedp.CSS(`#token`), viewer),
		chromedp.Click(chromedp.CSS(`#login button`)),
	))
	poll(`window.dashboard.refused !== null && document.querySelector('#status').innerText.includes('CACHE_MANAGE')`)
	for token, want := range map[string]int{viewer: http.StatusForbidden, "": http.StatusUnauthorized} {
		req := httptest.NewRequest(http.MethodGet, "/dashboard/data", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		assert.Equal(t, want, testenv.Serve(g.Handler, req).Code)
	}
}
