// Package testenv gives tests real, isolated dependencies: a fresh PostgreSQL
// database per test, a Redis key prefix per test (or a Redis server of the
// test's own, for fault tests), and counters of SQL statements and Redis round
// trips. `make test` makes sure PostgreSQL and Redis are reachable and points
// TEST_DATABASE_URL / TEST_REDIS_ADDR at them.
package testenv

import (
	"context"
	"os"
	"testing"
	"time"

	"authz-gateway/db"
	"authz-gateway/internal/scratch"
)

// DefaultDatabaseURL is the server used when TEST_DATABASE_URL is unset: the
// machine's local PostgreSQL.
const DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

func adminURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultDatabaseURL
}

// PostgresURL creates a fresh, empty database for t and drops it when t ends.
func PostgresURL(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dbURL, drop, err := scratch.CreateDatabase(ctx, adminURL(), "authzgw_test_")
	if err != nil {
		t.Fatalf("testenv: %v (run `make test`, which starts PostgreSQL)", err)
	}
	t.Cleanup(drop)
	return dbURL
}

// OpenPostgres opens a fresh, migrated database for t. With adminEmail set, it
// is also bootstrapped (default roles, the admin).
func OpenPostgres(t testing.TB, opts db.Options) *db.DB {
	t.Helper()
	d, err := db.OpenPostgres(PostgresURL(t), opts)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() { _ = d.Close() })
	if err := d.Migrate(context.Background()); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return d
}
