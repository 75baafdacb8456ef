package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"authz-gateway/db"
	"authz-gateway/ent/accesschange"
	"authz-gateway/internal/testenv"
	"authz-gateway/reqctx"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

var (
	tokenLine = regexp.MustCompile(`"Bearer ([^"]+)"`)
	urlLine   = regexp.MustCompile(`GraphQL:\s+(\S+)`)
)

// startEmbedded runs the real command on port 0 and returns the printed
// GraphQL URL and token, and a stop function.
func startEmbedded(t *testing.T, env map[string]string) (url, token string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out testenv.SyncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, envOf(env), &out) }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && !tokenLine.MatchString(out.String()) {
		select {
		case err := <-done:
			t.Fatalf("server exited: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	tm, um := tokenLine.FindStringSubmatch(out.String()), urlLine.FindStringSubmatch(out.String())
	require.NotNil(t, tm, "a token is printed: %q", out.String())
	require.NotNil(t, um, "the URL is printed")
	if strings.Contains(out.String(), "is ready.") {
		// The banner says ready only when /readyz does (issue 36, finding 7).
		status, body := getStatus(t, strings.TrimSuffix(um[1], "/graphql")+"/readyz")
		assert.Equal(t, http.StatusOK, status, "the banner said ready: %s", body)
	}
	return um[1], tm[1], func() {
		cancel()
		require.NoError(t, <-done, "graceful shutdown")
	}
}

func queryMe(t *testing.T, url, token string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"query":"{ me { email } }"}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body struct {
		Data struct{ Me struct{ Email string } }
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	return body.Data.Me.Email
}

func TestEmbeddedDefault_BootsSeedsOnceAndAnswersMe(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"DATA_DIR": dir, "PORT": "0", "ADMIN_EMAIL": "Boss@Example.com"}

	url, token, stop := startEmbedded(t, env)
	assert.Equal(t, "boss@example.com", queryMe(t, url, token))
	stop()
	first := countRows(t, dir)

	url, token2, stop := startEmbedded(t, env)
	assert.Equal(t, "boss@example.com", queryMe(t, url, token2))
	assert.Equal(t, "boss@example.com", queryMe(t, url, token), "the generated secret is kept across restarts")
	base := strings.TrimSuffix(url, "/graphql")
	assert.Contains(t, get(t, base+"/metrics"), "authz_cache_lookups_total", "metrics are exported")
	assert.Contains(t, get(t, base+"/readyz"), `"database":"ok"`)
	assert.Contains(t, get(t, base+"/"), `src="/playground/graphiql.min.js"`, "the playground is served in development")
	assert.Contains(t, get(t, base+"/playground/graphiql.min.js"), "GraphiQL", "from the binary's own assets")
	stop()
	assert.Equal(t, first, countRows(t, dir), "a restart does not duplicate seed data")
	assert.Greater(t, first["programs"], 0, "demo catalog seeded")

	var out bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"token", "--email", "viewer@example.com"}, envOf(env), &out))
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	require.Len(t, lines, 1, "token prints exactly one line")
	url, _, stop = startEmbedded(t, env)
	assert.Equal(t, "viewer@example.com", queryMe(t, url, lines[0]))
	stop()
	// The in-process store begins empty with each start: it is not a store
	// that went back in time, so no start repairs it (issue 36, finding 7:
	// every restart warned "cache store was behind the access-change log"
	// and logged an invalidate-all).
	assert.Zero(t, repairs(t, dir), "three starts, no repair")
}

// getStatus GETs url and returns the status and body.
func getStatus(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// repairs counts the repairs of a store behind the log in dir's database.
func repairs(t *testing.T, dir string) int {
	t.Helper()
	d, err := db.OpenSQLite(dir+"/gateway.db", db.Options{})
	require.NoError(t, err)
	defer d.Close()
	return d.Client.AccessChange.Query().Where(accesschange.Operation("repairCache")).CountX(reqctx.NewContextWithSystem(context.Background()))
}

func TestServe_RefusesProductionWithoutSecret(t *testing.T) {
	env := map[string]string{"DATA_DIR": t.TempDir(), "PORT": "0", "GATEWAY_ENV": "production"}
	err := run(context.Background(), nil, envOf(env), &bytes.Buffer{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "JWT_SECRET")
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, url)
	var buf bytes.Buffer
	_, err = buf.ReadFrom(resp.Body)
	require.NoError(t, err)
	return buf.String()
}

func countRows(t *testing.T, dir string) map[string]int {
	t.Helper()
	d, err := db.OpenSQLite(dir+"/gateway.db", db.Options{})
	require.NoError(t, err)
	defer d.Close()
	ctx := reqctx.NewContextWithSystem(context.Background())
	return map[string]int{
		"users":    d.Client.User.Query().CountX(ctx),
		"programs": d.Client.Program.Query().CountX(ctx),
		"projects": d.Client.Project.Query().CountX(ctx),
		"roles":    d.Client.Role.Query().CountX(ctx),
		"scopes":   d.Client.ScopeAssignment.Query().CountX(ctx),
	}
}

// TestServe_MetricsOnTheirOwnAddress: /metrics faced clients beside the API
// (issue 9, repro 18); METRICS_ADDR moves it.
func TestServe_MetricsOnTheirOwnAddress(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	metricsAddr := l.Addr().String()
	require.NoError(t, l.Close())
	env := map[string]string{"DATA_DIR": t.TempDir(), "PORT": "0", "METRICS_ADDR": metricsAddr}
	url, _, stop := startEmbedded(t, env)
	defer stop()
	resp, err := http.Get(strings.TrimSuffix(url, "/graphql") + "/metrics")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "not beside the API")
	// The metrics listener starts beside the API, not before the token is
	// printed: wait for it to answer.
	var body string
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + metricsAddr + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		body = string(b)
		return err == nil && resp.StatusCode == http.StatusOK
	}, 5*time.Second, 20*time.Millisecond)
	assert.Contains(t, body, "authz_cache_lookups_total")
}

// TestEmbeddedDefault_AdminEmailOfNobody: ADMIN_EMAIL is bootstrapped only
// while no admin exists; after a hand-over it may name nobody, and the
// server still starts (and says how to get a token).
func TestEmbeddedDefault_AdminEmailOfNobody(t *testing.T) {
	dir := t.TempDir()
	_, _, stop := startEmbedded(t, map[string]string{"DATA_DIR": dir, "PORT": "0"})
	stop()

	ctx, cancel := context.WithCancel(context.Background())
	var out testenv.SyncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, nil, envOf(map[string]string{"DATA_DIR": dir, "PORT": "0", "ADMIN_EMAIL": "nobody@example.com"}), &out)
	}()
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "No user has ADMIN_EMAIL") },
		30*time.Second, 20*time.Millisecond, "%s", out.String())
	cancel()
	require.NoError(t, <-done, "it served, and shut down gracefully")
}

// `migrate` applies the schema once; a second run finds it current.
func TestMigrateCommand(t *testing.T) {
	env := map[string]string{"DATABASE_URL": testenv.PostgresURL(t), "JWT_SECRET": string(testenv.Secret)}
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"migrate"}, envOf(env), &out))
	assert.Equal(t, fmt.Sprintf("migrated the database schema to version %s\n", db.SchemaVersion()), out.String())
	out.Reset()
	require.NoError(t, run(context.Background(), []string{"migrate"}, envOf(env), &out))
	assert.Equal(t, fmt.Sprintf("the database schema is already at version %s\n", db.SchemaVersion()), out.String())
}

// Help and the version answer at once and touch nothing: no data directory,
// no database, no server (issue 19: `serve --help` started the server,
// `migrate --help` migrated).
func TestCLI_HelpAndVersionHaveNoSideEffects(t *testing.T) {
	dir := t.TempDir() + "/data"
	env := map[string]string{"DATA_DIR": dir, "PORT": "0", "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none"}
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"serve", "--help"}, {"migrate", "--help"}, {"token", "--help"}, {"token", "-h"}} {
		var out bytes.Buffer
		require.NoError(t, run(context.Background(), args, envOf(env), &out), "%v", args)
		assert.Contains(t, out.String(), "Usage", "%v", args)
		assert.NoDirExists(t, dir, "%v created nothing", args)
	}
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"--help"}, envOf(env), &out))
	for _, want := range []string{"serve", "migrate", "token --email", "--version", "DATABASE_URL", "docs/configuration.md"} {
		assert.Contains(t, out.String(), want)
	}
	out.Reset()
	require.NoError(t, run(context.Background(), []string{"--version"}, envOf(env), &out))
	assert.Regexp(t, `^authz-gateway \S+`, out.String())
	err := run(context.Background(), []string{"frobnicate"}, envOf(env), &out)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--help")
}

// Minting a token reads: it writes no log entry and invalidates nobody
// (issue 19: each run appended "bootstrapAdmin: no grant", and sometimes
// a full cache repair), and a missing schema or user is a clear error.
func TestCLI_TokenIsReadOnly(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	env := map[string]string{"DATABASE_URL": g.DatabaseURL, "JWT_SECRET": string(testenv.Secret)}
	ctx := reqctx.NewContextWithSystem(context.Background())
	before := g.DB.Client.AccessChange.Query().CountX(ctx)
	for range 3 {
		var out bytes.Buffer
		require.NoError(t, run(context.Background(), []string{"token", "--email", testenv.AdminEmail}, envOf(env), &out))
		id, err := g.Tokens.Verify(strings.TrimSpace(out.String()))
		require.NoError(t, err)
		assert.Equal(t, g.Admin.ID, id.UserID)
	}
	assert.Equal(t, before, g.DB.Client.AccessChange.Query().CountX(ctx), "no log entry")

	err := run(context.Background(), []string{"token", "--email", "nobody@test.example"}, envOf(env), &bytes.Buffer{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no user with email")

	env["DATABASE_URL"] = testenv.PostgresURL(t) // a database never migrated
	err = run(context.Background(), []string{"token", "--email", testenv.AdminEmail}, envOf(env), &bytes.Buffer{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "authz-gateway migrate")

	empty := map[string]string{"DATA_DIR": t.TempDir()}
	err = run(context.Background(), []string{"token", "--email", "x@example.com"}, envOf(empty), &bytes.Buffer{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "make run")
	entries, _ := os.ReadDir(empty["DATA_DIR"])
	assert.Empty(t, entries, "nothing created")
}

// On SQLite, `migrate` says it migrated when it created the schema, and
// that the schema is current afterwards (issue 19: it always said
// "migrated").
func TestMigrateCommand_SQLite(t *testing.T) {
	env := map[string]string{"DATA_DIR": t.TempDir() + "/fresh"}
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"migrate"}, envOf(env), &out))
	assert.Contains(t, out.String(), "migrated")
	out.Reset()
	require.NoError(t, run(context.Background(), []string{"migrate"}, envOf(env), &out))
	assert.Contains(t, out.String(), "already at version")
}

// TestEmbeddedDefault_Accessors: "who can access this?" on SQLite (the
// embedded default's dialect: its own placeholders, LIKE ... ESCAPE on a
// JSON text column, a window count).
func TestEmbeddedDefault_Accessors(t *testing.T) {
	url, token, stop := startEmbedded(t, map[string]string{"DATA_DIR": t.TempDir(), "PORT": "0"})
	defer stop()
	post := func(query string) string {
		req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(query))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return string(b)
	}
	body := post(`{"query":"{ programs(first: 1, where: {name: \"Apollo\"}) { edges { node { accessors(permission: PROGRAM_READ) { totalCount edges { node { email } } } } } } }"}`)
	// The admin (GLOBAL), Apollo's program manager, and the lead of one of
	// its projects (a PROJECT scope reads its program); not the viewer of
	// Gemini and Mercury.
	for _, email := range []string{"admin@example.com", "pm.apollo@example.com", "lead.lander@example.com"} {
		assert.Contains(t, body, email)
	}
	assert.NotContains(t, body, "viewer@example.com")
	assert.Contains(t, body, `"totalCount":3`)
	assert.NotContains(t, body, `"errors"`)
}

// The embedded SQLite default ends time-bound grants too (its own clock is
// the database's): a scope granted through HTTP with an end 2 s ahead shows
// before it, no check that starts after it shows it, and the end is an
// "expire" entry of the audit trail.
func TestEmbeddedDefault_TimeBoundGrant(t *testing.T) {
	url, token, stop := startEmbedded(t, map[string]string{"DATA_DIR": t.TempDir(), "PORT": "0"})
	defer stop()
	post := graphQLPoster(t, url, token)
	ids := post(`{ users(where: {email: "viewer@example.com"}) { edges { node { id } } }
		projects(first: 100) { edges { node { id } } } }`, nil)
	viewer := ids["users"].(map[string]any)["edges"].([]any)[0].(map[string]any)["node"].(map[string]any)["id"]
	var project any
	for _, e := range ids["projects"].(map[string]any)["edges"].([]any) {
		id := e.(map[string]any)["node"].(map[string]any)["id"]
		if !checkRead(post, viewer, id) {
			project = id
			break
		}
		time.Sleep(25 * time.Millisecond) // within the default rate limit (50/s)
	}
	require.NotNil(t, project, "a project the demo viewer cannot read")

	end := time.Now().Add(2 * time.Second)
	post(`mutation($u: ID!, $p: ID!, $end: Time) { assignScope(input: {userId: $u, scopeType: PROJECT, projectId: $p, expiresAt: $end}) { id expiresAt } }`,
		map[string]any{"u": viewer, "p": project, "end": end.Format(time.RFC3339Nano)})
	var before, after, stale int
	for time.Now().Before(end.Add(1500 * time.Millisecond)) {
		start := time.Now()
		can := checkRead(post, viewer, project)
		switch {
		case start.After(end):
			after++
			if can {
				stale++
			}
		case can:
			before++
		}
		time.Sleep(25 * time.Millisecond) // within the default rate limit (50/s)
	}
	t.Logf("shown %d times before the end; %d of %d checks after it", before, stale, after)
	assert.Positive(t, before)
	assert.Positive(t, after)
	assert.Zero(t, stale)
	require.Eventually(t, func() bool {
		entries := post(`{ accessChanges(first: 5) { edges { node { operation target } } } }`, nil)
		for _, e := range entries["accessChanges"].(map[string]any)["edges"].([]any) {
			if e.(map[string]any)["node"].(map[string]any)["operation"] == "expire" {
				return true
			}
		}
		return false
	}, 3*time.Second, 100*time.Millisecond, "the end is in the audit trail")
}

func checkRead(post func(string, map[string]any) map[string]any, user, project any) bool {
	got := post(`query($u: ID!, $p: ID!) { checkAccess(checks: [{userId: $u, permission: PROJECT_READ, on: $p}]) }`,
		map[string]any{"u": user, "p": project})
	return got["checkAccess"].([]any)[0] == true
}

// The embedded SQLite default holds teams too, through HTTP: the demo's
// team "Mission control" (VIEWER and a PROGRAM scope on Apollo) gives its
// new member Apollo's projects, "why?" names it, a membership with an end
// stops at it with no write, and a removed member loses the team's access.
func TestEmbeddedDefault_Teams(t *testing.T) {
	url, token, stop := startEmbedded(t, map[string]string{"DATA_DIR": t.TempDir(), "PORT": "0"})
	defer stop()
	post := graphQLPoster(t, url, token)
	raw, err := json.Marshal(post(`{ users(where: {email: "viewer@example.com"}) { edges { node { id } } }
		teams(first: 1) { edges { node { id name } } }
		programs(where: {name: "Apollo"}) { edges { node { projects { id } } } } }`, nil))
	require.NoError(t, err)
	var ids struct {
		Users struct {
			Edges []struct{ Node struct{ ID string } }
		}
		Teams struct {
			Edges []struct{ Node struct{ ID, Name string } }
		}
		Programs struct {
			Edges []struct {
				Node struct{ Projects []struct{ ID string } }
			}
		}
	}
	require.NoError(t, json.Unmarshal(raw, &ids))
	viewer := ids.Users.Edges[0].Node.ID
	team := map[string]any{"id": ids.Teams.Edges[0].Node.ID}
	require.Equal(t, "Mission control", ids.Teams.Edges[0].Node.Name)
	project := ids.Programs.Edges[0].Node.Projects[0].ID
	require.False(t, checkRead(post, viewer, project), "not a member yet")

	post(`mutation($t: ID!, $u: ID!) { addTeamMember(teamId: $t, userId: $u) { id } }`, map[string]any{"t": team["id"], "u": viewer})
	assert.True(t, checkRead(post, viewer, project), "a member")
	why := post(`query($u: ID!, $p: ID!) { explainAccess(userId: $u, permission: PROJECT_READ, on: $p) { scopes { team { name } } } }`,
		map[string]any{"u": viewer, "p": project})
	assert.Contains(t, fmt.Sprint(why), "Mission control")

	end := time.Now().Add(1500 * time.Millisecond)
	post(`mutation($t: ID!, $u: ID!, $end: Time) { addTeamMember(teamId: $t, userId: $u, expiresAt: $end) { expiresAt } }`,
		map[string]any{"t": team["id"], "u": viewer, "end": end.Format(time.RFC3339Nano)})
	assert.True(t, checkRead(post, viewer, project), "until the end")
	time.Sleep(time.Until(end) + 10*time.Millisecond)
	assert.False(t, checkRead(post, viewer, project), "the membership ended")

	post(`mutation($t: ID!, $u: ID!) { addTeamMember(teamId: $t, userId: $u) { id } }`, map[string]any{"t": team["id"], "u": viewer})
	assert.True(t, checkRead(post, viewer, project))
	post(`mutation($t: ID!, $u: ID!) { removeTeamMember(teamId: $t, userId: $u) }`, map[string]any{"t": team["id"], "u": viewer})
	assert.False(t, checkRead(post, viewer, project), "removed")
}

// graphQLPoster returns a function that posts a GraphQL query with its
// variables to url as token's holder and returns the data, failing t on
// any error.
func graphQLPoster(t *testing.T, url, token string) func(query string, vars map[string]any) map[string]any {
	return func(query string, vars map[string]any) map[string]any {
		t.Helper()
		body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
		require.NoError(t, err)
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var out struct {
			Data   map[string]any
			Errors []any
		}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		require.Empty(t, out.Errors, "%s", query)
		return out.Data
	}
}
