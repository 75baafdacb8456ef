// Command migrategen writes the next versioned migration into
// db/migrations (Atlas's migration directory format, with atlas.sum) when
// ent/schema has changed since the last one; it writes nothing otherwise.
// Run by go generate (after ent). It replays the directory on a scratch
// database of a development PostgreSQL (DEV_DATABASE_URL, else
// TEST_DATABASE_URL, else the local server) and diffs it with ent's schema.
package main

import (
	"context"
	"log"
	"os"

	"authz-gateway/ent/migrate"
	"authz-gateway/internal/scratch"

	atlas "ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql/schema"
)

func main() {
	ctx := context.Background()
	server := os.Getenv("DEV_DATABASE_URL")
	if server == "" {
		server = os.Getenv("TEST_DATABASE_URL")
	}
	if server == "" {
		server = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	dev, drop, err := scratch.CreateDatabase(ctx, server, "authzgw_migrategen_")
	if err != nil {
		log.Fatalf("migrategen: a development PostgreSQL is needed (DEV_DATABASE_URL; `make generate` starts one): %v", err)
	}
	defer drop()
	dir, err := atlas.NewLocalDir("db/migrations")
	if err != nil {
		log.Fatalf("migrategen: %v", err)
	}
	err = migrate.NamedDiff(ctx, dev, "schema",
		schema.WithDir(dir),
		schema.WithMigrationMode(schema.ModeReplay),
		schema.WithDialect(dialect.Postgres),
		schema.WithFormatter(atlas.DefaultFormatter),
		schema.WithGlobalUniqueID(true),
	)
	if err != nil {
		drop()
		log.Fatalf("migrategen: %v", err)
	}
}
