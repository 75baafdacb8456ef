// Command loadtest drives the gateway over real HTTP on loopback with
// concurrent clients for a fixed time and prints throughput and latency
// percentiles.
//
// Self-contained (default): it creates a fresh PostgreSQL database, writes the
// docs/design.md, section 7 workload, starts the gateway in-process on 127.0.0.1 and
// measures one of the workload operations:
//
//	go run ./cmd/loadtest -op me -c 16 -d 10s
//	go run ./cmd/loadtest -op fanout -n 50 -tier redis-down
//
// Against a running gateway: -url http://127.0.0.1:8080/graphql -token T.
package main

import (
	"authz-gateway/redisconn"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"
)

type options struct {
	op, tier, dbURL, redisAddr, url, token, query, peer, peerFGA, userKind string
	tokens, cpuProfile, memProfile                                         string
	gatewayBin                                                             string
	clients, users, scale, warmUsers                                       int
	duration, wait                                                         time.Duration
	restart, overload                                                      bool
}

func main() {
	var o options
	flag.StringVar(&o.op, "op", "me", "operation: me, perms, lookup, page, check, read, fanout, accessors, floor, create, webapp (the example web app's documents, one write in 50)")
	flag.StringVar(&o.tier, "tier", "warm", "cache tier: warm (L1 and Redis, the default configuration), redis (warm, L1 off), cold (every answer recomputed), redis-down, memory")
	flag.IntVar(&o.clients, "c", 16, "concurrent clients")
	flag.DurationVar(&o.duration, "d", 10*time.Second, "how long to run (at most 10m)")
	// 50: a page of users with every list costs ~1,100 per user on the
	// benchmark catalog, and the default complexity limit is 100,000.
	flag.IntVar(&o.users, "n", 50, "users per fanout query")
	flag.DurationVar(&o.wait, "wait", 0, "dataloader batching window (default: the gateway's)")
	flag.StringVar(&o.dbURL, "db", envOr("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"), "PostgreSQL server to create the scratch database on")
	flag.StringVar(&o.redisAddr, "redis", envOr("TEST_REDIS_ADDR", "127.0.0.1:6379"), "Redis for the warm and cold tiers (keys get a random prefix, removed afterwards)")
	flag.StringVar(&o.url, "url", "", "measure a running gateway's GraphQL URL instead (loopback only)")
	flag.StringVar(&o.token, "token", "", "bearer token for -url")
	flag.BoolVar(&o.overload, "overload", false, "measure past capacity, with the production rate limit: saturation at -c clients, then an open loop at 2x and 0.5x of it for -d each (shed, failed, tail, peak heap, recovery)")
	flag.BoolVar(&o.restart, "restart", false, "measure the first -d after a restart that found every cached answer stale (cache warming's effect; with -warm-users)")
	flag.IntVar(&o.warmUsers, "warm-users", -1, "with -restart: WARM_USERS of the restarted gateway (0: no warming; default: the gateway's)")
	flag.IntVar(&o.scale, "scale", 1, "workload size: the benchmark workload's shape (docs/design.md, section 7) times this (programs and users; 100 = 100,000 projects)")
	flag.StringVar(&o.tokens, "tokens", "own", "bearer tokens: own (the gateway's HS256) or issuer (RS256 from an in-process identity provider, AUTH_ISSUER set, users mapped by email)")
	flag.StringVar(&o.userKind, "kind", "all", "askers of check, read, lookup, me, perms: all, global, program or project users")
	flag.StringVar(&o.peer, "peer", "", "run check and lookup against this SpiceDB binary too and print a table with ratios (make bench-peer)")
	flag.StringVar(&o.peerFGA, "peer-openfga", "", "with -peer, run them against this OpenFGA binary too")
	flag.StringVar(&o.gatewayBin, "gateway-bin", "", "serve the gateway from this binary, in a process of its own (the generator then shares no runtime with it, like the peers); default: in this process")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the measured runs (gateway and load generator: one process) to this file")
	flag.StringVar(&o.memProfile, "memprofile", "", "write an allocation profile of the measured runs to this file")
	flag.StringVar(&o.query, "query", "{ me { permissions accessiblePrograms { id } } }", "query for -url")
	flag.Parse()
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	redisconn.SilenceLogs()
	if err := run(context.Background(), o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, out io.Writer) error {
	if o.duration <= 0 || o.duration > 10*time.Minute || o.clients < 1 || o.clients > 256 {
		return fmt.Errorf("-d must be in (0, 10m] and -c in [1, 256]")
	}
	if o.peer != "" {
		return peer(ctx, o, out)
	}
	if o.url != "" {
		t, err := external(o)
		if err != nil {
			return err
		}
		return measure(ctx, o, t, out)
	}
	// One gateway (and workload) for every operation and asker kind listed:
	// -op check,perms -kind global,project.
	g, err := startGateway(ctx, o)
	if err != nil {
		return err
	}
	defer g.cleanup()
	if o.restart {
		if o.gatewayBin != "" {
			return fmt.Errorf("-restart restarts the gateway in this process: it does not go with -gateway-bin")
		}
		return restartMeasure(ctx, g, o, out)
	}
	if o.overload {
		return overload(ctx, g, o, out)
	}
	ops, kinds := strings.Split(o.op, ","), strings.Split(o.userKind, ",")
	for _, op := range ops {
		for _, kind := range kinds {
			o.op, o.userKind = op, kind
			t, err := g.target(ctx, o)
			if err != nil {
				return err
			}
			if err := measure(ctx, o, t, out); err != nil {
				return err
			}
		}
	}
	return nil
}

// measure drives t and prints one line of figures.
func measure(ctx context.Context, o options, t *target, out io.Writer) error {
	stopProfiles, err := startProfiles(o)
	if err != nil {
		return err
	}
	res := drive(ctx, t, o.clients, o.duration)
	if err := stopProfiles(); err != nil {
		return err
	}
	fmt.Fprintf(out, "op=%s kind=%s tier=%s tokens=%s scale=%d clients=%d %s\n", o.op, o.userKind, o.tier, o.tokens, max(o.scale, 1), o.clients, res)
	if res.errors > 0 {
		return fmt.Errorf("%d requests failed (first: %v)", res.errors, res.firstErr)
	}
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// startProfiles starts the CPU profile (-cpuprofile) and, for -memprofile,
// writes the allocations so far to <file>.base, so that
// `go tool pprof -base <file>.base <file>` shows the measured run's alone;
// the returned function writes the profiles.
func startProfiles(o options) (stop func() error, err error) {
	var cpu *os.File
	if o.cpuProfile != "" {
		if cpu, err = os.Create(o.cpuProfile); err != nil {
			return nil, err
		}
		if err := pprof.StartCPUProfile(cpu); err != nil {
			cpu.Close()
			return nil, fmt.Errorf("cpu profile: %w", err)
		}
	}
	if o.memProfile != "" {
		runtime.GC()
		if err := writeAllocs(o.memProfile + ".base"); err != nil {
			return nil, err
		}
	}
	return func() error {
		if cpu != nil {
			pprof.StopCPUProfile()
			if err := cpu.Close(); err != nil {
				return err
			}
		}
		if o.memProfile != "" {
			return writeAllocs(o.memProfile)
		}
		return nil
	}, nil
}

func writeAllocs(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.Lookup("allocs").WriteTo(f, 0)
}
