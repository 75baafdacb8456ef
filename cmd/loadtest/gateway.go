package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"time"

	"authz-gateway/auth"
	"authz-gateway/authz"
	"authz-gateway/cache"
	"authz-gateway/db"
	"authz-gateway/httpapi"
	"authz-gateway/internal/testenv"
	"authz-gateway/internal/workload"
)

// selfContained builds a scratch gateway with the workload and returns the
// target for o.op and a cleanup that removes everything it created.
func selfContained(ctx context.Context, o options) (*target, func(), error) {
	var cleanups []func()
	cleanup := func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}
	d, dropDB, err := scratchDatabase(ctx, o.dbURL)
	if err != nil {
		return nil, nil, err
	}
	cleanups = append(cleanups, dropDB)
	admin, err := d.Bootstrap(ctx, "admin@bench.example")
	if err != nil {
		return nil, cleanup, err
	}
	data, err := workload.Build(ctx, d.Client, workload.Default)
	if err != nil {
		return nil, cleanup, err
	}
	store, closeStore, err := storeFor(ctx, o)
	if err != nil {
		return nil, cleanup, err
	}
	cleanups = append(cleanups, closeStore)
	c := cache.New(store, cache.Config{})
	cleanups = append(cleanups, c.Close)
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	tokens := auth.NewTokens(secret)
	handler := httpapi.New(httpapi.Config{
		DB: d.Client, Authz: authz.NewService(d.Client, c, true), Tokens: tokens, LoaderWait: o.wait,
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, cleanup, err
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	cleanups = append(cleanups, func() { _ = srv.Close() })

	t, err := operation(o, data, admin.ID, tokens)
	if err != nil {
		return nil, cleanup, err
	}
	t.url = "http://" + l.Addr().String() + "/graphql"
	if o.tier == "cold" {
		t.before = func(ctx context.Context) error { return c.InvalidateAll(ctx) }
	}
	// Warm up: one pass over every distinct request, so "warm" means warm.
	for i := range 64 {
		body, token := t.request(i)
		if err := post(ctx, http.DefaultClient, t.url, body, token, t.notFoundIsAnswer); err != nil {
			cleanup()
			return nil, nil, fmt.Errorf("warm-up request: %w", err)
		}
	}
	return t, cleanup, nil
}

// operation returns the requests of one DESIGN section 7 operation.
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
	for i, p := range pairs {
		var q string
		var vars map[string]any
		switch o.op {
		case "me":
			q = `{ me { permissions accessiblePrograms { id } } }`
		case "lookup":
			q = `{ me { accessibleProjects { id } } }`
		case "check":
			q, vars = `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": fmt.Sprint(p[1])}
		case "fanout":
			q = `query($n: Int!) { users(first: $n) { edges { node { permissions accessiblePrograms { id } accessibleProjects { id } } } } }`
			vars = map[string]any{"n": o.users}
			p[0] = adminID
		case "floor":
			q = `{ __typename }`
		default:
			return nil, fmt.Errorf("unknown -op %q", o.op)
		}
		bodies[i], _ = json.Marshal(map[string]any{"query": q, "variables": vars})
		toks[i] = token(p[0])
	}
	return &target{
		request:          func(i int) ([]byte, string) { return bodies[i%len(bodies)], toks[i%len(toks)] },
		notFoundIsAnswer: o.op == "check",
	}, nil
}

// storeFor returns the cache store of the tier.
func storeFor(ctx context.Context, o options) (cache.Store, func(), error) {
	switch o.tier {
	case "memory":
		return cache.NewMemoryStore(), func() {}, nil
	case "redis-down":
		// A loopback port nobody listens on: every Redis call is refused.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, err
		}
		addr := l.Addr().String()
		_ = l.Close()
		client, err := cache.NewRedisClient(cache.RedisOptions{URL: "redis://" + addr})
		return cache.NewRedisStore(client, "", 2*time.Hour), func() { _ = client.Close() }, err
	case "warm", "cold":
		client, err := cache.NewRedisClient(cache.RedisOptions{URL: "redis://" + o.redisAddr})
		if err != nil {
			return nil, nil, err
		}
		if err := client.Ping(ctx).Err(); err != nil {
			return nil, nil, fmt.Errorf("redis %s: %w", o.redisAddr, err)
		}
		prefix := "authzgw-load:" + testenv.RandomSuffix() + ":"
		return cache.NewRedisStore(client, prefix, 2*time.Hour), func() { testenv.DeletePrefix(context.Background(), client, prefix); _ = client.Close() }, nil
	}
	return nil, nil, fmt.Errorf("unknown -tier %q", o.tier)
}

// scratchDatabase creates a migrated database on the server of serverURL
// and a function that drops it.
func scratchDatabase(ctx context.Context, serverURL string) (*db.DB, func(), error) {
	dbURL, drop, err := testenv.CreateDatabase(ctx, serverURL, "authzgw_load_")
	if err != nil {
		return nil, nil, err
	}
	d, err := db.OpenPostgres(dbURL, db.Options{})
	if err != nil {
		drop()
		return nil, nil, err
	}
	if err := d.Migrate(ctx); err != nil {
		_ = d.Close()
		drop()
		return nil, nil, err
	}
	return d, func() { _ = d.Close(); drop() }, nil
}
