package main

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// generated are the trees `go generate ./...` writes (see generate.go).
var generated = []string{"ent", "graph", "gqlgen.yml", "schema.graphql", "db/migrations"}

// TestGeneratedCodeIsUpToDate regenerates the code in a copy of the module
// and fails if anything differs from what is committed, so `go test ./...`
// alone catches a schema changed without `make generate` (as ent's own
// examples do).
func TestGeneratedCodeIsUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("regenerates the code: skipped with -short")
	}
	work := t.TempDir()
	require.NoError(t, copyModule(".", work))
	cmd := exec.Command("go", "generate", "./...")
	cmd.Dir = work
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go generate: %s", out)
	for _, root := range generated {
		require.NoError(t, filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			committed, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			regenerated, err := os.ReadFile(filepath.Join(work, path))
			require.NoError(t, err, "%s: generation removes it", path)
			if !bytes.Equal(committed, regenerated) {
				t.Errorf("%s is stale: run `make generate` and commit the result", path)
			}
			return nil
		}))
	}
}

// copyModule copies the module's sources from src to dst, leaving out what
// is not source (version control, scratch and data directories).
func copyModule(src, dst string) error {
	skip := map[string]bool{".git": true, ".tmp": true, ".data": true, "node_modules": true}
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && skip[d.Name()] {
			return filepath.SkipDir
		}
		target := filepath.Join(dst, path)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
}
