package authz_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"authz-gateway/access"
	"authz-gateway/answers"
	"authz-gateway/cache"
	"authz-gateway/internal/testenv"
	"authz-gateway/internal/workload"
)

// BenchmarkResolve measures the answers (all four kinds) for N users of the
// docs/design.md, section 7 workload: warm in the L1 (the default), warm in Redis (an
// instance without L1), cold (computed from PostgreSQL, then stored) and with
// Redis down (computed, circuit open, no L1).
func BenchmarkResolve(b *testing.B) {
	testenv.QuietLogs(b)
	redisServer := testenv.StartRedis(b)
	g := testenv.NewGateway(b, testenv.Options{})
	redisOnly := testenv.NewGateway(b, testenv.Options{DatabaseURL: g.DatabaseURL, NoL1: true})
	down := testenv.NewGateway(b, testenv.Options{DatabaseURL: g.DatabaseURL, RedisAddr: redisServer.Addr, NoL1: true})
	data, err := workload.Build(context.Background(), g.DB.Client, workload.Default)
	if err != nil {
		b.Fatal(err)
	}
	redisServer.Kill()
	ctx := context.Background()
	for _, n := range []int{1, 10, 100, 1000} {
		keys := keysFor(data.Users[:n])
		b.Run(fmt.Sprintf("tier=l1/users=%d", n), func(b *testing.B) {
			mustAnswer(b, g.Answers, keys)
			for b.Loop() {
				mustAnswer(b, g.Answers, keys)
			}
		})
		b.Run(fmt.Sprintf("tier=redis/users=%d", n), func(b *testing.B) {
			mustAnswer(b, redisOnly.Answers, keys)
			for b.Loop() {
				mustAnswer(b, redisOnly.Answers, keys)
			}
		})
		b.Run(fmt.Sprintf("tier=cold/users=%d", n), func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				if err := g.Cache.Invalidate(ctx, cache.Invalidation{All: true}); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				mustAnswer(b, g.Answers, keys)
			}
		})
		b.Run(fmt.Sprintf("tier=redis-down/users=%d", n), func(b *testing.B) {
			for b.Loop() {
				mustAnswer(b, down.Answers, keys)
			}
		})
	}
}

func keysFor(users []int) []cache.Key {
	var keys []cache.Key
	for _, u := range users {
		keys = append(keys, answers.ReachKeys(u)...)
	}
	return keys
}

func mustAnswer(b *testing.B, svc *answers.Source, keys []cache.Key) {
	if _, err := svc.Answers(context.Background(), keys); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkWrite_AckWait measures what the L1 costs a write: a scope
// toggled (revoke, grant, ...) on one of three instances sharing PostgreSQL
// and Redis, with L1s (the write waits for the other two to confirm) and
// without. It reports the p50 and p99 of a write.
func BenchmarkWrite_AckWait(b *testing.B) {
	testenv.QuietLogs(b)
	for _, tc := range []struct {
		name string
		noL1 bool
	}{{"l1", false}, {"redis-only", true}} {
		b.Run("tier="+tc.name, func(b *testing.B) {
			one := testenv.NewGateway(b, testenv.Options{NoL1: tc.noL1})
			for range 2 {
				testenv.NewGateway(b, testenv.Options{DatabaseURL: one.DatabaseURL, Prefix: one.Prefix(), NoL1: tc.noL1})
			}
			w := testenv.NewWorld(b, one.DB.Client)
			u := w.User("toggled@test.example")
			scope := w.InProject(u, w.Project(w.Program("P"), "p"))
			admin := testenv.AsUser(one.Admin.ID)
			var took []time.Duration
			active := true
			for b.Loop() {
				start := time.Now()
				var err error
				if active {
					_, err = one.Authz.SetScopeActive(admin, scope, false)
				} else {
					_, err = one.Authz.SetScopeActive(admin, scope, true)
				}
				if err != nil {
					b.Fatal(err)
				}
				took = append(took, time.Since(start))
				active = !active
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
		})
	}
}

// BenchmarkAccessors: "who can access this?" on the benchmark workload, one
// page of 100 (one SQL statement): the accessors of a project (PROJECT_READ:
// its GLOBAL holders, its program's PROGRAM scopes, its own PROJECT scopes)
// and of a program (PROGRAM_READ: also the PROJECT scopes under it), asked
// by the admin. The tables are analyzed after the load, as autovacuum keeps
// a production database (fresh statistics decide the plan).
func BenchmarkAccessors(b *testing.B) {
	testenv.QuietLogs(b)
	g := testenv.NewGateway(b, testenv.Options{})
	data, err := workload.Build(context.Background(), g.DB.Client, workload.Default)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := g.DB.SQL.Exec("ANALYZE"); err != nil {
		b.Fatal(err)
	}
	admin := testenv.AsUser(g.Admin.ID)
	for _, c := range []struct {
		name string
		p    access.Permission
		on   int
	}{
		{"project/PROJECT_READ", access.ProjectRead, data.Projects[0]},
		{"program/PROGRAM_READ", access.ProgramRead, data.Programs[0]},
	} {
		b.Run(c.name, func(b *testing.B) {
			var total int
			for b.Loop() {
				conn, err := g.Authz.Accessors(admin, c.p, c.on, 100, nil)
				if err != nil {
					b.Fatal(err)
				}
				total = conn.TotalCount
			}
			b.ReportMetric(float64(total), "accessors")
		})
	}
}
