// Package static serves embedded assets: files only (a directory answers
// 404, never a listing), kept by browsers for an hour.
package static

import (
	"io/fs"
	"net/http"
	"strings"
)

// Files serves the files of fsys.
func Files(fsys fs.FS) http.Handler {
	files := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/")
		if info, err := fs.Stat(fsys, name); name == "" || err != nil || info.IsDir() {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
}
