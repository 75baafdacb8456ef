package db

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"

	"authz-gateway/ent/migrate"

	"entgo.io/ent/dialect"
)

// SchemaVersion is the version of the database schema this binary creates.
// Bump it with every change of ent/schema (TestSchemaVersion_MatchesTheSchema
// fails until the fingerprint below is updated with it), so that:
//
//   - instances starting together migrate once: PostgreSQL's advisory lock
//     serializes them, and the ones after the first find the version current
//     and skip the migration altogether;
//   - an older binary refuses a database a newer one has migrated, instead of
//     running against columns it does not know (or dropping nothing and
//     failing later).
//
// The versions and when they were applied are kept in schema_migrations.
const SchemaVersion = 1

// SchemaFingerprint is the hash of the tables of SchemaVersion
// (SchemaFingerprintOf).
const SchemaFingerprint = "62a20b36e7c2f128bc48a91f858bf237be448c535d0c227210fa1aec163891b4"

// migrateLock is the advisory lock key of migrations ("authzgw" in ASCII).
const migrateLock = 0x617574687a6777

// SchemaFingerprintOf hashes the tables ent would create: a change of the
// ent schema changes it.
func SchemaFingerprintOf() string {
	h := sha256.New()
	for _, t := range migrate.Tables {
		fmt.Fprintf(h, "table %s\n", t.Name)
		for _, c := range t.Columns {
			fmt.Fprintf(h, " column %s %s size=%d null=%t unique=%t default=%v\n", c.Name, c.Type, c.Size, c.Nullable, c.Unique, c.Default)
		}
		for _, i := range t.Indexes {
			fmt.Fprintf(h, " index %s unique=%t", i.Name, i.Unique)
			for _, c := range i.Columns {
				fmt.Fprintf(h, " %s", c.Name)
			}
			fmt.Fprintf(h, " where=%v\n", i.Annotation)
		}
		for _, fk := range t.ForeignKeys {
			fmt.Fprintf(h, " fk %s -> %s on delete %s\n", fk.Symbol, fk.RefTable.Name, fk.OnDelete)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ErrNewerSchema is returned when the database was migrated by a newer binary.
type ErrNewerSchema struct{ Database, Binary int }

func (e ErrNewerSchema) Error() string {
	return fmt.Sprintf("the database schema is version %d, newer than this binary's %d: run a newer authz-gateway (refusing to start)",
		e.Database, e.Binary)
}

// MigrateVersioned brings the schema to SchemaVersion once, however many
// instances start at the same time: under a PostgreSQL advisory lock it reads
// the recorded version, migrates only if it is behind, and records the new
// one. It refuses (ErrNewerSchema) a database ahead of the binary. It reports
// whether it migrated. SQLite (one process) migrates directly.
func (d *DB) MigrateVersioned(ctx context.Context) (migrated bool, err error) {
	if d.Dialect != dialect.Postgres {
		return true, d.Migrate(ctx)
	}
	conn, err := d.SQL.Conn(ctx) // the lock belongs to this session
	if err != nil {
		return false, fmt.Errorf("migrate: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrateLock); err != nil {
		return false, fmt.Errorf("migrate: take the lock: %w", err)
	}
	defer func() {
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrateLock)
	}()
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version integer PRIMARY KEY, fingerprint text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now(), applied_by text NOT NULL)`); err != nil {
		return false, fmt.Errorf("migrate: %w", err)
	}
	var current int
	if err := conn.QueryRowContext(ctx, `SELECT COALESCE(max(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return false, fmt.Errorf("migrate: read the version: %w", err)
	}
	switch {
	case current > SchemaVersion:
		return false, ErrNewerSchema{Database: current, Binary: SchemaVersion}
	case current == SchemaVersion:
		return false, nil
	}
	if err := d.Migrate(ctx); err != nil {
		return false, err
	}
	host, _ := os.Hostname()
	if _, err := conn.ExecContext(ctx, `INSERT INTO schema_migrations (version, fingerprint, applied_by) VALUES ($1, $2, $3)`,
		SchemaVersion, SchemaFingerprintOf(), host+":"+strconv.Itoa(os.Getpid())); err != nil {
		return false, fmt.Errorf("migrate: record version %d: %w", SchemaVersion, err)
	}
	return true, nil
}

// CheckVersion refuses a PostgreSQL database whose recorded schema version
// is not this binary's (for instances that do not migrate at start).
func (d *DB) CheckVersion(ctx context.Context) error {
	if d.Dialect != dialect.Postgres {
		return nil
	}
	var current int
	err := d.SQL.QueryRowContext(ctx, `SELECT COALESCE(max(version), 0) FROM schema_migrations`).Scan(&current)
	switch {
	case err != nil:
		return fmt.Errorf("the database has no schema version (run `authz-gateway migrate` first): %w", err)
	case current > SchemaVersion:
		return ErrNewerSchema{Database: current, Binary: SchemaVersion}
	case current < SchemaVersion:
		return fmt.Errorf("the database schema is version %d, older than this binary's %d: run `authz-gateway migrate`", current, SchemaVersion)
	}
	return nil
}
