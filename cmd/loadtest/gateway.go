package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"authz-gateway/app"
	"authz-gateway/auth"
	"authz-gateway/internal/idp"
	"authz-gateway/internal/scratch"
	"authz-gateway/internal/workload"
	"authz-gateway/ratelimit"
	"authz-gateway/reqctx"

	"entgo.io/ent/dialect"
)

// gateway is the real gateway (app.New, as production builds it), serving
// on loopback over a scratch database that holds the workload.
type gateway struct {
	app *app.App
	// url is where requests go: the in-process app's, or the gateway
	// process's (-gateway-bin).
	url     string
	pid     int // the gateway's process (-gateway-bin); 0: this one
	data    *workload.Data
	adminID int
	idp     *idp.Provider // with -tokens issuer
	cleanup func()
}

// startGateway starts a gateway for o. Rate limiting is off: the tool
// measures the gateway, and 16 clients on a few hundred users would
// otherwise measure the limiter. cleanup removes everything it created.
func startGateway(ctx context.Context, o options) (g *gateway, err error) {
	var cleanups []func()
	g = &gateway{cleanup: func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}}
	defer func() {
		if err != nil {
			g.cleanup()
		}
	}()
	dbURL, drop, err := scratch.CreateDatabase(ctx, o.dbURL, "authzgw_load_")
	if err != nil {
		return nil, err
	}
	cleanups = append(cleanups, drop)
	cfg, err := gatewayConfig(o, dbURL)
	if err != nil {
		return nil, err
	}
	switch o.tokens {
	case "own":
	case "issuer":
		if o.restart {
			return nil, fmt.Errorf("-tokens issuer does not go with -restart")
		}
		if g.idp, err = idp.New(); err != nil {
			return nil, err
		}
		cleanups = append(cleanups, g.idp.Close)
		cfg.Identity = app.IdentityProvider{Issuer: g.idp.Issuer(), Audience: idp.Audience, UserClaim: auth.ClaimEmail}
	default:
		return nil, fmt.Errorf("unknown -tokens %q", o.tokens)
	}
	if g.app, err = app.New(ctx, cfg); err != nil {
		return nil, err
	}
	cleanups = append(cleanups, func() { g.app.Close() }) // the app of the moment (-restart replaces it)
	if o.tier == "warm" || o.tier == "redis" || o.tier == "cold" {
		if err := g.app.Redis().Ping(ctx).Err(); err != nil {
			return nil, fmt.Errorf("redis %s: %w", o.redisAddr, err)
		}
	}
	if g.app.Redis() != nil && cfg.CachePrefix != "" {
		cleanups = append(cleanups, func() { scratch.DeletePrefix(context.Background(), g.app.Redis(), cfg.CachePrefix) })
	}
	admin, err := g.app.UserByEmail(ctx, cfg.AdminEmail)
	if err != nil {
		return nil, err
	}
	g.adminID = admin.ID
	if g.data, err = workload.Build(ctx, g.app.DB().Client, workload.Default.Scaled(max(o.scale, 1))); err != nil {
		return nil, err
	}
	// The bulk load leaves PostgreSQL's statistics behind (autovacuum would
	// analyze the tables during the measurement, and plan with stale
	// counts until then): measure what a settled database does.
	if g.app.DB().Dialect == dialect.Postgres {
		if _, err := g.app.DB().SQL.ExecContext(ctx, "VACUUM ANALYZE"); err != nil {
			return nil, fmt.Errorf("vacuum analyze after the workload: %w", err)
		}
	}
	if o.gatewayBin != "" {
		url, pid, stop, err := startProcess(ctx, o.gatewayBin, cfg)
		if err != nil {
			return nil, err
		}
		g.url, g.pid = url, pid
		cleanups = append(cleanups, stop)
		return g, nil
	}
	if err := g.app.Listen("127.0.0.1:0"); err != nil {
		return nil, err
	}
	g.url = g.app.URL()
	serveCtx, stop := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { _ = g.app.Serve(serveCtx); close(served) }()
	cleanups = append(cleanups, func() { stop(); <-served })
	return g, nil
}

// target returns the requests of o.op against the gateway, warmed up: one
// pass over every distinct request, so "warm" means warm, checking every
// answer on the way.
func (g *gateway) target(ctx context.Context, o options) (*target, error) {
	t, err := operation(o, g.data, g.adminID, g.issue(ctx, g.app), g.url+"/graphql")
	if err != nil {
		return nil, err
	}
	if o.tier == "cold" {
		t.before = g.invalidateAll
	}
	return t, warmUp(ctx, t)
}

// issue returns how the tool's tokens for a user are made: by the gateway
// (own) or by the identity provider, for the user's email (issuer).
func (g *gateway) issue(ctx context.Context, a *app.App) func(userID int) (string, error) {
	if g.idp == nil {
		return func(userID int) (string, error) { return a.Tokens().Issue(userID, time.Hour) }
	}
	return func(userID int) (string, error) {
		u, err := a.DB().Client.User.Get(reqctx.NewContextWithSystem(ctx), userID)
		if err != nil {
			return "", fmt.Errorf("user %d: %w", userID, err)
		}
		return g.idp.Token(u.Email, time.Hour)
	}
}

// invalidateAll empties every cache tier the way an operator does: the
// invalidateAllCaches mutation, logged and delivered like every change.
func (g *gateway) invalidateAll(ctx context.Context) error {
	return g.app.Authz().InvalidateAllCaches(reqctx.NewContextWithViewer(ctx, reqctx.Viewer{UserID: g.adminID}))
}

// warmUp sends every distinct request once (there are 256).
func warmUp(ctx context.Context, t *target) error {
	send := func(ctx context.Context, i int) error { return t.send(ctx, http.DefaultClient, i) }
	if t.connect != nil {
		own, closeConn, err := t.connect()
		if err != nil {
			return err
		}
		defer closeConn()
		send = own
	}
	for i := range 256 {
		if err := send(ctx, i); err != nil {
			return fmt.Errorf("warm-up request %d: %w", i, err)
		}
	}
	return nil
}

// gatewayConfig is the production configuration with the tool's database,
// cache tier and batching window.
func gatewayConfig(o options, dbURL string) (app.Config, error) {
	cfg, err := app.LoadConfig(func(string) string { return "" })
	if err != nil {
		return cfg, err
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	cfg.DatabaseURL, cfg.Env, cfg.SeedDemo = dbURL, "production", false
	cfg.JWTSecret = hex.EncodeToString(secret)
	cfg.AdminEmail = "admin@bench.example"
	cfg.LoaderWait = o.wait
	if !o.overload {
		cfg.RateLimit = ratelimit.Limit{} // the tool measures the gateway, not the limiter
	}
	switch o.tier {
	case "memory":
	case "redis-down":
		// A loopback port nobody listens on: every Redis call is refused.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return cfg, err
		}
		cfg.Redis.URL = "redis://" + l.Addr().String()
		_ = l.Close()
	case "warm", "redis", "cold":
		cfg.Redis.URL = "redis://" + o.redisAddr
		cfg.CachePrefix = "authzgw-load:" + scratch.Suffix() + ":"
		if o.tier == "redis" {
			cfg.L1Bytes = 0 // warm in Redis alone
		}
	default:
		return cfg, fmt.Errorf("unknown -tier %q", o.tier)
	}
	return cfg, nil
}

// operation returns the requests of one docs/design.md, section 7 operation, each
// with the answer the workload says is right.
func operation(o options, data *workload.Data, adminID int, issue func(userID int) (string, error), url string) (*target, error) {
	tokenFor := map[int]string{}
	var issueErr error
	token := func(user int) string {
		if tok, ok := tokenFor[user]; ok {
			return tok
		}
		tok, err := issue(user)
		if err != nil && issueErr == nil {
			issueErr = err
		}
		tokenFor[user] = tok
		return tok
	}
	pairs := data.CheckPairsOf(256, data.UsersOf(o.userKind))
	bodies := make([][]byte, len(pairs))
	toks := make([]string, len(pairs))
	checks := make([]func(answer) error, len(pairs))
	for i, p := range pairs {
		var q string
		var vars map[string]any
		user, project := p[0], p[1]
		allowed := data.Allowed(user, project) // every role holds PROJECT_READ
		switch o.op {
		case "me":
			q = `{ me { permissions accessiblePrograms { id } } }`
			checks[i] = noErrors
		case "perms":
			q = `{ me { permissions } }`
			checks[i] = noErrors
		case "create":
			return createTarget(url, data.Programs[0], token(adminID)), nil
		case "webapp":
			t := webAppTarget(url, data, adminID, data.UsersOf(o.userKind), token)
			return t, issueErr
		case "page":
			// A page of the viewer's projects and how many there are.
			q = `{ me { accessibleProjectConnection(first: 20) { totalCount edges { node { id } } } } }`
			n, reachable := data.Reachable(user)
			checks[i] = expectPage(n, 20, reachable)
		case "lookup":
			q = `{ me { accessibleProjectIds } }`
			checks[i] = expectProjects(data.Reachable(user))
		case "check":
			q, vars = `query($id: ID!) { me { can(permission: PROJECT_READ, on: $id) } }`, map[string]any{"id": fmt.Sprint(project)}
			// A self-check answers false, without an error, on what the
			// viewer cannot read.
			checks[i] = expectData(fmt.Sprintf(`{"me":{"can":%t}}`, allowed))
		case "read":
			q, vars = `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": fmt.Sprint(project)}
			checks[i] = expectAllowed(allowed, fmt.Sprintf(`{"node":{"id":"%d"}}`, project))
		case "fanout":
			q = `query($n: Int!) { users(first: $n) { edges { node { permissions accessiblePrograms { id } accessibleProjects { id } } } } }`
			vars = map[string]any{"n": o.users}
			user = adminID
			checks[i] = noErrors
		case "accessors":
			// Who can read this project? A page of 100, asked by the admin.
			q = `query($id: ID!) { node(id: $id) { ... on Project { accessors(permission: PROJECT_READ, first: 100) { totalCount edges { node { id } } } } } }`
			vars, user = map[string]any{"id": fmt.Sprint(project)}, adminID
			readers := 1 // the admin
			for _, u := range data.Users {
				if data.Allowed(u, project) {
					readers++
				}
			}
			checks[i] = expectTotal(readers)
		case "floor":
			q = `{ __typename }`
			checks[i] = noErrors
		default:
			return nil, fmt.Errorf("unknown -op %q", o.op)
		}
		bodies[i], _ = json.Marshal(map[string]any{"query": q, "variables": vars})
		toks[i] = token(user)
	}
	if issueErr != nil {
		return nil, issueErr
	}
	return graphQL(url,
		func(i int) ([]byte, string) { return bodies[i%len(bodies)], toks[i%len(toks)] },
		func(i int, a answer) error { return checks[i%len(checks)](a) }), nil
}

// createTarget creates a project per request, each with a name of its own,
// as the admin (a GLOBAL user: every GLOBAL holder is invalidated by each).
func createTarget(url string, program int, token string) *target {
	var n atomic.Int64
	run := time.Now().UnixNano()
	query := `mutation($n: String!, $p: ID!) { createProject(input: {name: $n, programID: $p}) { id } }`
	return graphQL(url, func(int) ([]byte, string) {
		body, _ := json.Marshal(map[string]any{"query": query,
			"variables": map[string]any{"n": fmt.Sprintf("load-%d-%d", run, n.Add(1)), "p": fmt.Sprint(program)}})
		return body, token
	}, nil)
}

// webAppTarget is the example web app's traffic: each request one of a
// session's reads (who am I, a page of programs and of projects, the checks
// of 20 rows, a "why?") by one of users, in turn, and one request in 50 the
// admin renaming a project (a write, logged and delivered like any other).
// Every check's answer is compared with the workload's.
func webAppTarget(url string, data *workload.Data, adminID int, users []int, token func(int) string) *target {
	var reads []workload.WebAppRequest
	for _, u := range users[:min(64, len(users))] {
		reads = append(reads, data.WebAppReads(u)...)
	}
	bodies := make([][]byte, len(reads))
	toks := make([]string, len(reads))
	for i, r := range reads {
		bodies[i], _ = json.Marshal(map[string]any{"query": r.Query, "variables": r.Variables})
		toks[i] = token(r.User)
	}
	adminToken := token(adminID)
	run := time.Now().UnixNano()
	return &target{send: func(ctx context.Context, hc *http.Client, i int) error {
		if i%50 == 49 {
			w := workload.WebAppRename(adminID, data.Projects[i%len(data.Projects)], fmt.Sprintf("renamed-%d-%d", run, i))
			body, _ := json.Marshal(map[string]any{"query": w.Query, "variables": w.Variables})
			a, err := post(ctx, hc, url, body, adminToken)
			if err != nil {
				return err
			}
			return noErrors(a)
		}
		k := i % len(reads)
		a, err := post(ctx, hc, url, bodies[k], toks[k])
		if err != nil {
			return err
		}
		if err := noErrors(a); err != nil || reads[k].Check == nil {
			return err
		}
		return reads[k].Check(a.Data)
	}}
}
