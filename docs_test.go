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
	ids := map[string]any{"user": itoa(viewer), "program": itoa(apollo), "project": itoa(firstProject)}
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

// TestDocs_IdentityProviderExample runs the README's worked example of an
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
	for _, block := range fenced(t, "README.md", "bash") {
		if strings.Contains(block, "reporting-bot") {
			example = block
		}
	}
	require.NotEmpty(t, example, "the README's identity provider example")
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
