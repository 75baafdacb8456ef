package db

import (
	"context"
	"fmt"
	"strings"

	"entgo.io/ent/dialect"
)

// catalogCountsFile is the hand-written migration that installs the
// triggers keeping catalog_counts (ent and Atlas's diff manage tables, not
// triggers). Versioned migration applies it once; automatic migration
// (tests, databases from before versions) runs it after ent's: it is
// idempotent and counts what is there under a lock.
const catalogCountsFile = "_catalog_counts.sql"

// installCatalogCounts runs catalogCountsFile (one transaction).
func (d *DB) installCatalogCounts(ctx context.Context) error {
	if d.Dialect != dialect.Postgres {
		return nil // SQLite counts its small catalog instead
	}
	dir, err := migrationDir()
	if err != nil {
		return fmt.Errorf("catalog counts: the embedded migrations: %w", err)
	}
	files, err := dir.Files()
	if err != nil {
		return fmt.Errorf("catalog counts: the embedded migrations: %w", err)
	}
	for _, f := range files {
		if !strings.HasSuffix(f.Name(), catalogCountsFile) {
			continue
		}
		stmts, err := f.Stmts()
		if err != nil {
			return fmt.Errorf("catalog counts: %w", err)
		}
		// The file opens and commits its own transaction, on one connection.
		conn, err := d.SQL.Conn(ctx)
		if err != nil {
			return fmt.Errorf("catalog counts: %w", err)
		}
		defer conn.Close()
		for _, s := range stmts {
			if _, err := conn.ExecContext(ctx, s); err != nil {
				_, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
				return fmt.Errorf("catalog counts: %w", err)
			}
		}
		return nil
	}
	return fmt.Errorf("catalog counts: no migration ends in %s", catalogCountsFile)
}
