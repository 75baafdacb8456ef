// Command fleetsim measures what the fleet of L1s costs PostgreSQL as it
// grows: N gateways, each built as production builds it (app.New: its own
// connection pool, its own listener, its lease and confirmations), run in
// one process against one PostgreSQL, first idle, then under writes
// through one of them, then with one member stopped.
//
//	go run ./cmd/fleetsim -db postgres://... -members 1,10,100
//
// The server needs max_connections for every member's pool and listener
// and pg_stat_statements preloaded (scripts/bench.sh starts one so); without
// pg_stat_statements, transactions stand in for statements.
package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"authz-gateway/app"
	"authz-gateway/freshness"
	"authz-gateway/internal/scratch"

	"github.com/lib/pq"
	"golang.org/x/sync/errgroup"
)

type options struct {
	dbURL, redisAddr string
	members          []int
	writes           int
	idle             time.Duration
	top              int
}

func main() {
	var o options
	var members string
	flag.StringVar(&o.dbURL, "db", envOr("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"), "PostgreSQL server to create the scratch database on (enough max_connections; pg_stat_statements preloaded)")
	flag.StringVar(&o.redisAddr, "redis", envOr("TEST_REDIS_ADDR", "127.0.0.1:6379"), "Redis (keys get a random prefix)")
	flag.StringVar(&members, "members", "1,10,100", "fleet sizes to measure")
	flag.IntVar(&o.writes, "writes", 100, "writes (createProject through the first member) per measurement")
	flag.DurationVar(&o.idle, "idle", 10*time.Second, "how long the idle fleet is watched")
	flag.IntVar(&o.top, "top", 0, "also print the idle fleet's most frequent statements (this many)")
	flag.Parse()
	for _, s := range strings.Split(members, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "fleetsim: bad -members %q\n", members)
			os.Exit(2)
		}
		o.members = append(o.members, n)
	}
	// The members' own logs (start-up, a stopped member's fencing) are not
	// the measurement.
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	fmt.Printf("# fleetsim %s, writes %d, idle %s\n", time.Now().UTC().Format(time.RFC3339), o.writes, o.idle)
	fmt.Println("| members | idle statements/s (per member) | idle transactions/s | shared-channel notifications/s | connections (per member) | write p50 | write p99 | stopped member: write p50 / p99 / max |")
	fmt.Println("|---:|---:|---:|---:|---:|---:|---:|---|")
	for _, n := range o.members {
		r, err := measure(context.Background(), o, n)
		if err != nil {
			fmt.Fprintf(os.Stderr, "fleetsim: %d members: %v\n", n, err)
			os.Exit(1)
		}
		fmt.Println(r.row(n))
	}
}

// result is one fleet size's measurement.
type result struct {
	stmts, xacts, notes float64 // per second, the whole fleet, idle
	conns               int
	writes, stopped     []time.Duration
}

func (r result) row(n int) string {
	stopped := "n/a"
	if len(r.stopped) > 0 {
		stopped = fmt.Sprintf("%s / %s / %s", pct(r.stopped, 50), pct(r.stopped, 99), pct(r.stopped, 100))
	}
	return fmt.Sprintf("| %d | %.1f (%.2f) | %.1f | %.1f | %d (%.1f) | %s | %s | %s |",
		n, r.stmts, r.stmts/float64(n), r.xacts, r.notes, r.conns, float64(r.conns)/float64(n),
		pct(r.writes, 50), pct(r.writes, 99), stopped)
}

func pct(d []time.Duration, p int) string {
	s := slices.Clone(d)
	slices.Sort(s)
	i := min(len(s)-1, (len(s)*p)/100)
	return fmt.Sprintf("%.1f ms", float64(s[i].Microseconds())/1000)
}

// member is one gateway of the fleet; stop makes it go silent the way a
// stopped process does for the fleet (no confirmation, no renewal).
type member struct {
	app     *app.App
	stopped atomic.Bool
	resume  chan struct{}
}

func (m *member) pause(ctx context.Context) {
	if !m.stopped.Load() {
		return
	}
	select {
	case <-m.resume:
	case <-ctx.Done():
	}
}

func measure(ctx context.Context, o options, n int) (r result, err error) {
	dbURL, drop, err := scratch.CreateDatabase(ctx, o.dbURL, "authzgw_fleet_")
	if err != nil {
		return r, err
	}
	defer drop()
	cfg, err := app.LoadConfig(func(string) string { return "" })
	if err != nil {
		return r, err
	}
	cfg.DatabaseURL, cfg.Env, cfg.SeedDemo = dbURL, "production", false
	cfg.JWTSecret = scratch.Suffix() + scratch.Suffix() + scratch.Suffix()
	cfg.AdminEmail = "admin@fleet.example"
	cfg.Redis.URL = "redis://" + o.redisAddr
	cfg.CachePrefix = "authzgw-fleet:" + scratch.Suffix() + ":"
	if _, err := app.Migrate(ctx, cfg); err != nil {
		return r, err
	}
	cfg.MigrateAtStart = false

	stats, err := sql.Open("postgres", dbURL)
	if err != nil {
		return r, err
	}
	defer stats.Close()
	stats.SetMaxOpenConns(1)
	_, statErr := stats.ExecContext(ctx, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")

	members := make([]*member, n)
	defer func() {
		for _, m := range members {
			if m != nil && m.app != nil {
				if m.stopped.Swap(false) {
					close(m.resume)
				}
				m.app.Close()
			}
		}
	}()
	// The first member bootstraps the admin; the others start beside it,
	// a few at a time (each start is a write that waits for the fleet).
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i := range members {
		m := &member{resume: make(chan struct{})}
		members[i] = m
		start := func() error {
			a, err := app.New(gctx, cfg, app.WithFleetConfig(func(f *freshness.FleetConfig) { f.Pause = m.pause }))
			if err != nil {
				return fmt.Errorf("member %d: %w", i, err)
			}
			m.app = a
			return nil
		}
		if i == 0 {
			if err := start(); err != nil {
				return r, err
			}
			continue
		}
		g.Go(start)
	}
	if err := g.Wait(); err != nil {
		return r, err
	}

	// Watch the shared channel as a member does (every member receives
	// what is sent on it).
	var notes atomic.Int64
	listener := pq.NewListener(dbURL, 100*time.Millisecond, time.Second, nil)
	defer listener.Close()
	if err := listener.Listen(freshness.NotifyChannel); err != nil {
		return r, fmt.Errorf("listen: %w", err)
	}
	go func() {
		for range listener.Notify {
			notes.Add(1)
		}
	}()

	time.Sleep(3 * time.Second) // start-up's writes and first renewals settle
	if statErr == nil {
		_, _ = stats.ExecContext(ctx, "SELECT pg_stat_statements_reset()")
	}
	stmts0, xacts0, err := counters(ctx, stats, statErr == nil)
	if err != nil {
		return r, err
	}
	notes.Store(0)
	begin := time.Now()
	time.Sleep(o.idle)
	stmts1, xacts1, err := counters(ctx, stats, statErr == nil)
	if err != nil {
		return r, err
	}
	secs := time.Since(begin).Seconds()
	if statErr == nil && o.top > 0 {
		if err := printTop(ctx, stats, n, o.top, secs); err != nil {
			return r, err
		}
	}
	r.stmts, r.xacts, r.notes = float64(stmts1-stmts0)/secs, float64(xacts1-xacts0)/secs, float64(notes.Load())/secs
	if statErr != nil {
		r.stmts = r.xacts
	}
	// Connections of the members: everything on the database but the
	// simulation's own two (statistics, listener).
	if err := stats.QueryRowContext(ctx, "SELECT count(*) - 2 FROM pg_stat_activity WHERE datname = current_database()").Scan(&r.conns); err != nil {
		return r, err
	}

	write, err := writer(ctx, members[0].app)
	if err != nil {
		return r, err
	}
	if r.writes, err = timed(ctx, o.writes, write); err != nil {
		return r, err
	}
	if n > 1 {
		last := members[n-1]
		last.stopped.Store(true)
		time.Sleep(cfg.L1Lease / 4) // it misses a renewal or two: its lease still holds
		if r.stopped, err = timed(ctx, o.writes, write); err != nil {
			return r, err
		}
	}
	return r, nil
}

// counters reads the database's statements (pg_stat_statements, when
// there) and transactions so far.
func counters(ctx context.Context, stats *sql.DB, statements bool) (stmts, xacts int64, err error) {
	// The statistics collector publishes transactions with a delay.
	_, _ = stats.ExecContext(ctx, "SELECT pg_stat_clear_snapshot()")
	if err := stats.QueryRowContext(ctx, "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()").Scan(&xacts); err != nil {
		return 0, 0, fmt.Errorf("read transactions: %w", err)
	}
	if statements {
		err := stats.QueryRowContext(ctx, `SELECT COALESCE(sum(calls), 0)::bigint FROM pg_stat_statements
			WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
			  AND query NOT LIKE '%pg_stat%'`).Scan(&stmts)
		if err != nil {
			return 0, 0, fmt.Errorf("read statements: %w", err)
		}
	}
	return stmts, xacts, nil
}

// printTop prints the idle fleet's most frequent statements, per member
// and second.
func printTop(ctx context.Context, stats *sql.DB, n, top int, secs float64) error {
	rows, err := stats.QueryContext(ctx, `SELECT calls, regexp_replace(left(query, 110), '\s+', ' ', 'g') FROM pg_stat_statements
		WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND query NOT LIKE '%pg_stat%'
		ORDER BY calls DESC LIMIT $1`, top)
	if err != nil {
		return fmt.Errorf("read statements: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var calls int64
		var query string
		if err := rows.Scan(&calls, &query); err != nil {
			return err
		}
		fmt.Printf("#   %d members: %.2f/s per member: %s\n", n, float64(calls)/secs/float64(n), query)
	}
	return rows.Err()
}

// writer returns one write through a's GraphQL handler: createProject as
// the admin, in a program it creates first.
func writer(ctx context.Context, a *app.App) (func() error, error) {
	token, err := a.TokenFor(ctx, a.Config().AdminEmail)
	if err != nil {
		return nil, err
	}
	post := func(query string, vars map[string]any) (map[string]any, error) {
		body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
		req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		a.Handler().ServeHTTP(rec, req)
		var out struct {
			Data   map[string]any
			Errors []any
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || len(out.Errors) > 0 || rec.Code != http.StatusOK {
			return nil, fmt.Errorf("write failed: HTTP %d: %s", rec.Code, rec.Body.String())
		}
		return out.Data, nil
	}
	data, err := post(`mutation { createProgram(input: {name: "fleet"}) { id } }`, nil)
	if err != nil {
		return nil, err
	}
	program := data["createProgram"].(map[string]any)["id"]
	var seq atomic.Int64
	return func() error {
		_, err := post(`mutation($in: CreateProjectInput!) { createProject(input: $in) { id } }`,
			map[string]any{"in": map[string]any{"programID": program, "name": fmt.Sprintf("p%d", seq.Add(1))}})
		return err
	}, nil
}

// timed runs write n times, one after the other, and returns each one's
// duration.
func timed(_ context.Context, n int, write func() error) ([]time.Duration, error) {
	out := make([]time.Duration, 0, n)
	for range n {
		begin := time.Now()
		if err := write(); err != nil {
			return nil, err
		}
		out = append(out, time.Since(begin))
	}
	return out, nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
