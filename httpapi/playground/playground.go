// Package playground serves the GraphiQL playground from assets embedded in
// the binary (GraphiQL and React vendored from npm with their licences by
// `make playground`, beside our playground.js),
// so it works without internet. Development only, like introspection.
package playground

import (
	"embed"
	"io/fs"
	"net/http"

	"authz-gateway/httpapi/static"
)

//go:embed index.html assets
var files embed.FS

// contentSecurityPolicy allows nothing beyond the gateway itself: scripts,
// styles and connections from its own origin (the fonts are inlined).
const contentSecurityPolicy = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"

// Register adds the playground's page at / and its assets under /playground/.
func Register(mux *http.ServeMux) {
	page, _ := files.ReadFile("index.html")
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", contentSecurityPolicy)
		_, _ = w.Write(page)
	})
	assets, _ := fs.Sub(files, "assets")
	mux.Handle("GET /playground/", http.StripPrefix("/playground/", static.Files(assets)))
}
