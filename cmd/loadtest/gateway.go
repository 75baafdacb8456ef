package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"time"

	"authz-gateway/app"
	"authz-gateway/auth"
	"authz-gateway/internal/scratch"
	"authz-gateway/internal/workload"
	"authz-gateway/ratelimit"
)

// selfContained starts the real gateway (app.New, as production builds it)
// over a scratch database holding the workload, and returns the target for
// o.op and a cleanup that removes everything it created. Rate limiting is
// off: the tool measures the gateway, and 16 clients on a few hundred users
// would otherwise measure the limiter.
func selfContained(ctx context.Context, o options) (*target, func(), error) {
	var cleanups []func()
	cleanup := func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}
	dbURL, drop, err := scratch.CreateDatabase(ctx, o.dbURL, "authzgw_load_")
	if err != nil {
		return nil, nil, err
	}
	cleanups = append(cleanups, drop)
	cfg, err := gatewayConfig(o, dbURL)
	if err != nil {
		return nil, cleanup, err
	}
	gw, err := app.New(ctx, cfg)
	if err != nil {
		return nil, cleanup, err
	}
	cleanups = append(cleanups, gw.Close)
	if o.tier == "warm" || o.tier == "cold" {
		if err := gw.Redis().Ping(ctx).Err(); err != nil {
			return nil, cleanup, fmt.Errorf("redis %s: %w", o.redisAddr, err)
		}
	}
	if gw.Redis() != nil && cfg.CachePrefix != "" {
		cleanups = append(cleanups, func() { scratch.DeletePrefix(context.Background(), gw.Redis(), cfg.CachePrefix) })
	}
	admin, err := gw.UserByEmail(ctx, cfg.AdminEmail)
	if err != nil {
		return nil, cleanup, err
	}
	data, err := workload.Build(ctx, gw.DB().Client, workload.Default)
	if err != nil {
		return nil, cleanup, err
	}
	if err := gw.Listen("127.0.0.1:0"); err != nil {
		return nil, cleanup, err
	}
	serveCtx, stop := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { _ = gw.Serve(serveCtx); close(served) }()
	cleanups = append(cleanups, func() { stop(); <-served })

	t, err := operation(o, data, admin.ID, gw.Tokens())
	if err != nil {
		return nil, cleanup, err
	}
	t.url = gw.URL() + "/graphql"
	if o.tier == "cold" {
		t.before = func(ctx context.Context) error { return gw.Cache().InvalidateAll(ctx) }
	}
	// Warm up: one pass over every distinct request, so "warm" means warm,
	// checking every answer on the way.
	for i := range 256 {
		body, token := t.request(i)
		a, err := post(ctx, http.DefaultClient, t.url, body, token)
		if err == nil {
			err = t.verify(i, a)
		}
		if err != nil {
			cleanup()
			return nil, nil, fmt.Errorf("warm-up request %d: %w", i, err)
		}
	}
	return t, cleanup, nil
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
	cfg.RateLimit = ratelimit.Limit{}
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
	case "warm", "cold":
		cfg.Redis.URL = "redis://" + o.redisAddr
		cfg.CachePrefix = "authzgw-load:" + scratch.Suffix() + ":"
	default:
		return cfg, fmt.Errorf("unknown -tier %q", o.tier)
	}
	return cfg, nil
}

// operation returns the requests of one DESIGN section 7 operation, each
// with the answer the workload says is right.
func operation(o options, data *workload.Data, adminID int, tokens *auth.Tokens) (*target, error) {
	tokenFor := map[int]string{}
	token := func(user int) string {
		if tok, ok := tokenFor[user]; ok {
			return tok
		}
		tok, _ := tokens.Issue(user, time.Hour)
		tokenFor[user] = tok
		return tok
	}
	pairs := data.CheckPairs(256)
	bodies := make([][]byte, len(pairs))
	toks := make([]string, len(pairs))
	checks := make([]func(answer) error, len(pairs))
	for i, p := range pairs {
		var q string
		var vars map[string]any
		user, project := p[0], p[1]
		allowed := data.Accessible[user][project] // every role holds PROJECT_READ
		switch o.op {
		case "me":
			q = `{ me { permissions accessiblePrograms { id } } }`
			checks[i] = noErrors
		case "lookup":
			q = `{ me { accessibleProjects { id } } }`
			checks[i] = expectProjects(data.Accessible[user])
		case "check":
			q, vars = `query($id: ID!) { me { can(permission: PROJECT_READ, on: $id) } }`, map[string]any{"id": fmt.Sprint(project)}
			checks[i] = expectAllowed(allowed, `{"me":{"can":true}}`)
		case "read":
			q, vars = `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": fmt.Sprint(project)}
			checks[i] = expectAllowed(allowed, fmt.Sprintf(`{"node":{"id":"%d"}}`, project))
		case "fanout":
			q = `query($n: Int!) { users(first: $n) { edges { node { permissions accessiblePrograms { id } accessibleProjects { id } } } } }`
			vars = map[string]any{"n": o.users}
			user = adminID
			checks[i] = noErrors
		case "floor":
			q = `{ __typename }`
			checks[i] = noErrors
		default:
			return nil, fmt.Errorf("unknown -op %q", o.op)
		}
		bodies[i], _ = json.Marshal(map[string]any{"query": q, "variables": vars})
		toks[i] = token(user)
	}
	return &target{
		request: func(i int) ([]byte, string) { return bodies[i%len(bodies)], toks[i%len(toks)] },
		check:   func(i int, a answer) error { return checks[i%len(checks)](a) },
	}, nil
}
