// Package dashboard serves the cache dashboard page (/dashboard) from assets
// embedded in the binary (uPlot vendored from npm by `make dashboard`); its
// data comes from the handler the app gives it (/dashboard/data, which needs
// a token with CACHE_MANAGE).
package dashboard

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed index.html dashboard.js dashboard.css assets
var files embed.FS

// contentSecurityPolicy: nothing beyond the gateway itself.
const contentSecurityPolicy = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"

// Register adds the page, its assets and data to mux.
func Register(mux *http.ServeMux, data http.Handler) {
	page, _ := files.ReadFile("index.html")
	mux.HandleFunc("GET /dashboard", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", contentSecurityPolicy)
		_, _ = w.Write(page)
	})
	mux.Handle("GET /dashboard/data", data)
	own := map[string]string{"dashboard.js": "text/javascript; charset=utf-8", "dashboard.css": "text/css; charset=utf-8"}
	assets, _ := fs.Sub(files, "assets")
	static := http.FileServerFS(assets)
	mux.Handle("GET /dashboard/assets/", http.StripPrefix("/dashboard/assets/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		if contentType, ok := own[r.URL.Path]; ok {
			body, _ := files.ReadFile(r.URL.Path)
			w.Header().Set("Content-Type", contentType)
			_, _ = w.Write(body)
			return
		}
		static.ServeHTTP(w, r)
	})))
}
