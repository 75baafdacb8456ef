package httpapi_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"authz-gateway/internal/testenv"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// offlineBrowser starts Debian's chromium (headless) that can reach
// loopback only: every other host fails to resolve and goes to a dead proxy.
// scripts/test.sh installs chromium when missing and sets
// PLAYGROUND_BROWSER=1, so CI cannot skip the browser tests.
func offlineBrowser(t *testing.T) context.Context {
	t.Helper()
	testenv.Slow(t, "a real browser")
	browser, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("PLAYGROUND_BROWSER") == "1" {
			t.Fatalf("chromium is required: %v", err)
		}
		t.Skip("no chromium (scripts/test.sh installs Debian's)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 800), // a laptop's browser window
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.ProxyServer("http://127.0.0.1:9"), // loopback bypasses it; anything else dies here
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancelTimeout)
	return ctx
}

// saveArtifact writes a test artifact (a screenshot) to $TEST_ARTIFACTS.
func saveArtifact(t *testing.T, name string, data []byte) {
	if dir := os.Getenv("TEST_ARTIFACTS"); dir != "" {
		require.NoError(t, os.MkdirAll(dir, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o644))
	}
}

// TestPlayground_OfflineInARealBrowser opens the playground in Chromium with
// no network beyond loopback (every other host fails to resolve and goes to
// a dead proxy), pastes a token into the Headers editor, runs
// `{ me { email } }` and reads the answer on the page. The default query
// and headers fit their editors in a 1280x800 window. Every request the
// page made must have gone to the gateway. A screenshot goes to
// $TEST_ARTIFACTS when set.
func TestPlayground_OfflineInARealBrowser(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{Introspection: true})
	srv := httptest.NewServer(g.Handler)
	t.Cleanup(srv.Close)
	ctx := offlineBrowser(t)

	var mu sync.Mutex
	var requested []string
	requests := chromedp.Events(ctx, network.RequestWillBeSent) // subscribed from here on
	go func() {
		for ev, err := range requests {
			if err != nil {
				return
			}
			mu.Lock()
			requested = append(requested, ev.Request.URL)
			mu.Unlock()
		}
	}()

	token := g.Token(t, g.Admin.ID)
	headers := fmt.Sprintf(`{"Authorization": "Bearer %s"}`, token)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS(`.graphiql-execute-button`)),
	))
	// What a newcomer sees first fits: no line of the default query or the
	// default headers runs past its editor's edge on a laptop's screen.
	clipped, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('.CodeMirror')]
		.map(e => e.CodeMirror).filter(cm => cm.getValue() !== '')
		.filter(cm => { const s = cm.getScrollInfo(); return s.width > s.clientWidth + 1; })
		.map(cm => cm.getValue())`))
	require.NoError(t, err)
	assert.Empty(t, clipped, "default text wider than its editor")
	// CodeMirror 5 editors keep their API on the wrapper element: set the
	// query, and paste the token into the Headers editor (the last editable
	// one besides the query).
	edited, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf(`(() => {
		const query = document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror;
		query.setValue('{ me { email } }');
		const tools = [...document.querySelectorAll('.CodeMirror')].map(e => e.CodeMirror)
			.filter(cm => cm !== query && !cm.getOption('readOnly'));
		tools[tools.length - 1].setValue(%q);
		return tools.length;
	})()`, headers)))
	require.NoError(t, err)
	require.Positive(t, edited, "the Headers editor is there")
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`.graphiql-execute-button`))))
	answer, err := chromedp.Run(ctx, chromedp.Poll[string](
		`(() => { const r = document.querySelector('.graphiql-response'); return r && r.innerText.includes('@') ? r.innerText : null; })()`,
		chromedp.WithPollingTimeout(20*time.Second)))
	require.NoError(t, err)
	assert.Contains(t, answer, testenv.AdminEmail, "the answer is on the page")
	screenshot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)

	saveArtifact(t, "playground.png", screenshot)
	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, requested)
	for _, u := range requested {
		if !strings.HasPrefix(u, srv.URL) && !strings.HasPrefix(u, "data:") {
			t.Errorf("the page requested %s: not the gateway", u)
		}
	}
	t.Logf("%d requests, all to the gateway", len(requested))
}
