package main

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"authz-gateway/app"
	"authz-gateway/auth"
	"authz-gateway/ent/program"
	"authz-gateway/ent/project"
	"authz-gateway/ent/team"
	"authz-gateway/ent/user"
	"authz-gateway/internal/testenv"
	"authz-gateway/reqctx"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

// fenced returns the fenced blocks of a language in a Markdown file.
func fenced(t *testing.T, path, lang string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	re := regexp.MustCompile("(?ms)^```" + lang + "\n(.*?)^```")
	var out []string
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		out = append(out, m[1])
	}
	return out
}

// examples splits a GraphQL block into its examples: a block holds one, or
// several each introduced by a comment line.
func examples(block string) []string {
	var out []string
	for i, part := range regexp.MustCompile(`(?m)^#[^\n]*\n`).Split(block, -1) {
		if strings.TrimSpace(part) != "" || i > 0 {
			if strings.TrimSpace(part) != "" {
				out = append(out, part)
			}
		}
	}
	return out
}

// Every GraphQL and curl example of the README and docs/ runs against a
// gateway with the demo data, as its admin, without errors (issue 19: an
// example failed as written). Variables are the demo's: $user is the demo
// viewer, $program a program, $project a project of it.
func TestDocs_ExamplesRun(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	ctx := reqctx.NewContextWithSystem(context.Background())
	_, err := g.DB.SeedDemo(ctx)
	require.NoError(t, err)
	viewer := g.DB.Client.User.Query().Where(user.Email("viewer@example.com")).OnlyIDX(ctx)
	apollo := g.DB.Client.Program.Query().Where(program.Name("Apollo")).OnlyIDX(ctx)
	firstProject := g.DB.Client.Project.Query().Where(project.ProgramID(apollo)).FirstIDX(ctx)
	team := g.DB.Client.Team.Query().Where(team.Name("Mission control")).OnlyIDX(ctx)
	ids := map[string]any{"user": itoa(viewer), "program": itoa(apollo), "project": itoa(firstProject), "team": itoa(team)}
	admin := g.Token(t, g.Admin.ID)

	docs, err := filepath.Glob("docs/*.md")
	require.NoError(t, err)
	ran := 0
	for _, path := range append([]string{"README.md"}, docs...) {
		for _, block := range fenced(t, path, "graphql") {
			for _, example := range examples(block) {
				doc, perr := parser.ParseQuery(&ast.Source{Input: example})
				require.Nil(t, perr, "%s: %s", path, example)
				vars := map[string]any{}
				for _, op := range doc.Operations {
					for _, v := range op.VariableDefinitions {
						require.Contains(t, ids, v.Variable, "%s: unknown variable $%s", path, v.Variable)
						vars[v.Variable] = ids[v.Variable]
					}
				}
				r := g.Do(t, admin, example, vars)
				assert.Empty(t, r.Errors, "%s:\n%s", path, example)
				ran++
			}
		}
	}
	t.Logf("%d GraphQL examples ran", ran)
	assert.GreaterOrEqual(t, ran, 5, "the README's examples at least")

	// The curl examples, against the gateway on a real port, with the
	// token command reading the same database. (The other shell blocks are
	// the commands that run the rest: make test runs this suite and the web
	// client's npm check, make run is the embedded default the server tests
	// start, make bench is scripts/bench.sh.)
	srv := httptest.NewServer(g.Handler)
	defer srv.Close()
	for _, path := range append([]string{"README.md"}, docs...) {
		for _, block := range fenced(t, path, "sh") {
			if !strings.Contains(block, "curl ") {
				continue
			}
			script := strings.ReplaceAll(block, "localhost:8080", strings.TrimPrefix(srv.URL, "http://"))
			cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
			cmd.Env = append(os.Environ(), "DATABASE_URL="+g.DatabaseURL, "JWT_SECRET="+string(testenv.Secret), "ADMIN_EMAIL="+testenv.AdminEmail)
			out, err := cmd.Output()
			require.NoError(t, err, "%s:\n%s", path, block)
			t.Logf("%s: a curl example answered %d bytes", path, len(out))
			var body struct{ Errors []any }
			require.NoError(t, json.Unmarshal(out, &body), "%s: %s", path, out)
			assert.Empty(t, body.Errors, "%s: %s", path, out)
		}
	}
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

// TestDocs_IdentityProviderExample runs docs/identity.md's worked example of an
// identity provider (the bash block) as written, against a real Ory Hydra
// and a gateway configured as the example says: the service account's
// token from Hydra reads its own user.
func TestDocs_IdentityProviderExample(t *testing.T) {
	hydra := testenv.StartHydra(t)
	g := testenv.NewGateway(t, testenv.Options{RateLimit: testenv.ProductionRateLimit(),
		Identity: app.IdentityProvider{Issuer: hydra.Issuer, Audience: "authz-gateway", UserClaim: auth.ClaimSub}})
	srv := httptest.NewServer(g.Handler)
	defer srv.Close()
	var example string
	for _, block := range fenced(t, "docs/identity.md", "bash") {
		if strings.Contains(block, "reporting-bot") {
			example = block
		}
	}
	require.NotEmpty(t, example, "docs/identity.md's service account example")
	script := strings.NewReplacer(
		"http://127.0.0.1:4445", hydra.AdminURL,
		"http://127.0.0.1:4444", hydra.Issuer,
		"localhost:8080", strings.TrimPrefix(srv.URL, "http://"),
	).Replace(example)
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	cmd.Env = append(os.Environ(), "DATABASE_URL="+g.DatabaseURL, "JWT_SECRET="+string(testenv.Secret), "ADMIN_EMAIL="+testenv.AdminEmail)
	out, err := cmd.Output()
	require.NoError(t, err, "%s", out)
	var body struct {
		Data struct {
			Me struct {
				Email       string
				ExternalID  string `json:"externalId"`
				Permissions []string
			}
		}
		Errors []any
	}
	require.NoError(t, json.Unmarshal(out, &body), "%s", out)
	assert.Empty(t, body.Errors)
	assert.Equal(t, "reporting-bot", body.Data.Me.ExternalID)
	assert.Equal(t, []string{"PROGRAM_READ", "PROJECT_READ"}, body.Data.Me.Permissions)
}

// The README stays a newcomer's page: what the gateway is, the two
// commands, examples, the settings most deployments set, and links to
// docs/ for the rest (issue 36: it had grown to 618 lines).
func TestDocs_ReadmeIsANewcomersPage(t *testing.T) {
	b, err := os.ReadFile("README.md")
	require.NoError(t, err)
	lines := strings.Count(string(b), "\n")
	assert.LessOrEqual(t, lines, 500, "README.md has %d lines: move details to docs/", lines)
}

// Every relative link of the README, docs/ and the examples' READMEs
// names a file that exists, and an anchor a heading of it (as GitHub
// makes them): moving a section must not leave links behind.
func TestDocs_LinksResolve(t *testing.T) {
	files := []string{"README.md"}
	for _, pattern := range []string{"docs/*.md", "examples/*/README.md"} {
		more, err := filepath.Glob(pattern)
		require.NoError(t, err)
		files = append(files, more...)
	}
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	checked := 0
	for _, file := range files {
		b, err := os.ReadFile(file)
		require.NoError(t, err)
		for _, m := range link.FindAllStringSubmatch(string(b), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			path, anchor, _ := strings.Cut(target, "#")
			resolved := file
			if path != "" {
				resolved = filepath.Join(filepath.Dir(file), path)
				if _, err := os.Stat(resolved); err != nil {
					t.Errorf("%s: link %s: no such file", file, target)
					continue
				}
			}
			if anchor != "" {
				assert.Contains(t, headingAnchors(t, resolved), anchor, "%s: link %s", file, target)
			}
			checked++
		}
	}
	assert.Greater(t, checked, 20)
}

// headingAnchors are the anchors GitHub gives a Markdown file's headings:
// lower case, punctuation dropped, spaces as hyphens.
func headingAnchors(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var anchors []string
	inFence := false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "```") {
			inFence = !inFence
		}
		if inFence || !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.ToLower(strings.TrimSpace(strings.TrimLeft(line, "#")))
		var slug strings.Builder
		for _, r := range title {
			switch {
			case r == ' ' || r == '-':
				slug.WriteRune('-')
			case r == '_' || ('a' <= r && r <= 'z') || ('0' <= r && r <= '9') || r > 127:
				slug.WriteRune(r)
			}
		}
		anchors = append(anchors, slug.String())
	}
	return anchors
}
