package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"authz-gateway/app"
)

// restartMeasure is -restart: every distinct request once (so the store
// records who is active), every cached answer made stale (a generation bump
// at the store, as an invalidate-all or a Redis rollback would), then the
// gateway restarted on the same database and Redis, with warming as the
// environment says (-warm-users), and o.op measured for o.duration from the
// moment /readyz says ready (as a load balancer would send traffic; warming
// holds readiness back at most WARM_READY_MAX). It prints the time to ready
// and the store's and the L1's hit rate over the window: how much of the
// first seconds after a restart came from a cache.
func restartMeasure(ctx context.Context, g *gateway, o options, out io.Writer) error {
	if _, err := g.target(ctx, o); err != nil { // warm-up: every user once
		return err
	}
	if err := g.invalidateAll(ctx); err != nil {
		return err
	}
	cfg := g.app.Config()
	if o.warmUsers >= 0 {
		cfg.Warm.Users = o.warmUsers
	}
	g.app.Close() // records who was active on the way out
	fresh, err := app.New(ctx, cfg)
	if err != nil {
		return err
	}
	g.app = fresh
	if err := fresh.Listen("127.0.0.1:0"); err != nil {
		return err
	}
	serveCtx, stop := context.WithCancel(ctx)
	served := make(chan struct{})
	go func() { _ = fresh.Serve(serveCtx); close(served) }()
	defer func() { stop(); <-served }()

	started := time.Now()
	if err := waitReady(ctx, fresh.URL()+"/readyz"); err != nil {
		return err
	}
	ready := time.Since(started)
	t, err := operation(o, g.data, g.adminID, g.issue(ctx, fresh), fresh.URL()+"/graphql")
	if err != nil {
		return err
	}
	// Counted from readiness on: warming's own misses are not the clients'.
	s0, l0 := fresh.Cache().Stats(ctx), fresh.Cache().LocalStats()
	res := drive(ctx, t, o.clients, o.duration)
	s1, l1 := fresh.Cache().Stats(ctx), fresh.Cache().LocalStats()
	hits, misses := (s1.Hits-s0.Hits)+(l1.Hits-l0.Hits), s1.Misses-s0.Misses
	rate := 0.0
	if hits+misses > 0 {
		rate = float64(hits) / float64(hits+misses)
	}
	fmt.Fprintf(out, "op=%s restart warm_users=%d ready_after=%v clients=%d %s cache_hit_rate=%.3f store_misses=%d\n",
		o.op, cfg.Warm.Users, ready.Round(time.Millisecond), o.clients, res, rate, misses)
	if res.errors > 0 {
		return fmt.Errorf("%d requests failed (first: %v)", res.errors, res.firstErr)
	}
	return nil
}

// waitReady polls url until it answers 200 (10 s at most).
func waitReady(ctx context.Context, url string) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("%s: not ready within 10 s", url)
}
