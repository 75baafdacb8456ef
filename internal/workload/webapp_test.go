package workload

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The realistic workload asks what the example web app asks: its
// documents, word for word (whitespace aside).
func TestWebApp_DocumentsAreTheApps(t *testing.T) {
	src, err := os.ReadFile("../../examples/web-client/src/operations.ts")
	require.NoError(t, err)
	squash := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	apps := map[string]bool{}
	for _, m := range regexp.MustCompile("(?s)graphql\\(`(.*?)`\\)").FindAllStringSubmatch(string(src), -1) {
		apps[squash(m[1])] = true
	}
	for _, doc := range []string{WebAppMe, WebAppProgramsPage, WebAppProjectsPage, WebAppChecks, WebAppWhyWrite, WebAppRenameProject} {
		assert.True(t, apps[squash(doc)], "not one of the app's documents:\n%s", doc)
	}
}
