package authz_test

import (
	"context"
	"fmt"
	"testing"

	"authz-gateway/authz"
	"authz-gateway/cache"
	"authz-gateway/internal/testenv"
	"authz-gateway/internal/workload"
)

// BenchmarkResolve measures the answers (all four kinds) for N users of the
// DESIGN section 7 workload: warm (Redis hits), cold (computed from
// PostgreSQL, then stored) and with Redis down (computed, circuit open).
func BenchmarkResolve(b *testing.B) {
	testenv.QuietLogs(b)
	redisServer := testenv.StartRedis(b)
	g := testenv.NewGateway(b, testenv.Options{})
	down := testenv.NewGateway(b, testenv.Options{DatabaseURL: g.DatabaseURL, RedisAddr: redisServer.Addr})
	data, err := workload.Build(context.Background(), g.DB.Client, workload.Default)
	if err != nil {
		b.Fatal(err)
	}
	redisServer.Kill()
	ctx := context.Background()
	for _, n := range []int{1, 10, 100, 1000} {
		keys := keysFor(data.Users[:n])
		b.Run(fmt.Sprintf("tier=warm/users=%d", n), func(b *testing.B) {
			mustAnswer(b, g.Authz, keys)
			for b.Loop() {
				mustAnswer(b, g.Authz, keys)
			}
		})
		b.Run(fmt.Sprintf("tier=cold/users=%d", n), func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				if err := g.Cache.InvalidateAll(ctx); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				mustAnswer(b, g.Authz, keys)
			}
		})
		b.Run(fmt.Sprintf("tier=redis-down/users=%d", n), func(b *testing.B) {
			for b.Loop() {
				mustAnswer(b, down.Authz, keys)
			}
		})
	}
}

func keysFor(users []int) []cache.Key {
	var keys []cache.Key
	for _, u := range users {
		keys = append(keys, authz.ReachKeys(u)...)
	}
	return keys
}

func mustAnswer(b *testing.B, svc *authz.Service, keys []cache.Key) {
	if _, err := svc.Answers(context.Background(), keys); err != nil {
		b.Fatal(err)
	}
}
