// Package dashboard serves the cache dashboard page (/dashboard) from assets
// embedded in the binary (uPlot vendored from npm by `make dashboard`, beside
// our dashboard.js and dashboard.css). Its data is GraphQL like any
// client's: cacheStats (CACHE_MANAGE) and accessChanges (AUDIT_READ),
// asked of /graphql with the token the page is given.
package dashboard

import (
	"embed"
	"io/fs"
	"net/http"

	"authz-gateway/httpapi/static"
)

//go:embed index.html assets
var files embed.FS

// contentSecurityPolicy: nothing beyond the gateway itself.
const contentSecurityPolicy = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"

// Register adds the page and its assets to mux.
func Register(mux *http.ServeMux) {
	page, _ := files.ReadFile("index.html")
	mux.HandleFunc("GET /dashboard", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", contentSecurityPolicy)
		_, _ = w.Write(page)
	})
	assets, _ := fs.Sub(files, "assets")
	mux.Handle("GET /dashboard/assets/", http.StripPrefix("/dashboard/assets/", static.Files(assets)))
}
