package db

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"time"

	atlas "ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/postgres"
	"entgo.io/ent/dialect"
)

// Versioned migrations (PostgreSQL): db/migrations holds one SQL file per
// schema change in Atlas's migration directory format (with atlas.sum),
// written by `make generate` (internal/migrategen: ent's schema diffed with
// the directory replayed on a development database; drift-checked like all
// generated code) and embedded in the binary. At start (MIGRATE_AT_START) or
// with `authz-gateway migrate`, under a PostgreSQL advisory lock, Atlas's
// executor applies the files the database has not applied yet and records
// them in atlas_schema_revisions, so that:
//
//   - instances starting together migrate once: the lock serializes them,
//     and the ones after the first find nothing pending;
//   - an older binary refuses a database a newer one has migrated (a
//     recorded version it has no file for), instead of running against
//     columns it does not know.
//
// The embedded default (SQLite, one process) keeps ent's automatic
// migration.

//go:embed migrations
var migrationFiles embed.FS

// migrateLock is the advisory lock key of migrations ("authzgw" in ASCII).
const migrateLock = 0x617574687a6777

// SchemaVersion is the version of the newest migration this binary has.
func SchemaVersion() string {
	dir, err := migrationDir()
	if err != nil {
		return "unknown"
	}
	files, err := dir.Files()
	if err != nil || len(files) == 0 {
		return "none"
	}
	return files[len(files)-1].Version()
}

// ErrNewerSchema is returned when the database was migrated by a newer binary.
type ErrNewerSchema struct{ Database, Binary string }

func (e ErrNewerSchema) Error() string {
	return fmt.Sprintf("the database schema is at version %s, newer than this binary's %s: run a newer authz-gateway (refusing to start)",
		e.Database, e.Binary)
}

// migrationDir is db/migrations as embedded.
func migrationDir() (*atlas.MemDir, error) {
	dir := &atlas.MemDir{}
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		data, err := migrationFiles.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		if err := dir.WriteFile(e.Name(), data); err != nil {
			return nil, err
		}
	}
	return dir, nil
}

// MigrateVersioned applies the pending migrations once, however many
// instances start at the same time, and reports whether it applied any. It
// refuses (ErrNewerSchema) a database ahead of the binary. SQLite migrates
// automatically.
func (d *DB) MigrateVersioned(ctx context.Context) (migrated bool, err error) {
	if d.Dialect != dialect.Postgres {
		// SQLite keeps ent's automatic migration (no versions): it reports
		// a migration when it created the schema, not on every run.
		var tables int
		if err := d.SQL.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'users'`).Scan(&tables); err != nil {
			return false, fmt.Errorf("migrate: %w", err)
		}
		return tables == 0, d.Migrate(ctx)
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

	dir, err := migrationDir()
	if err != nil {
		return false, fmt.Errorf("migrate: the embedded migrations: %w", err)
	}
	files, err := dir.Files()
	if err != nil {
		return false, fmt.Errorf("migrate: the embedded migrations: %w", err)
	}
	rrw := &revisions{conn: conn}
	if err := rrw.init(ctx); err != nil {
		return false, err
	}
	applied, err := rrw.ReadRevisions(ctx)
	if err != nil {
		return false, err
	}
	if err := refuseNewer(applied, files); err != nil {
		return false, err
	}
	if len(applied) == 0 {
		legacy, err := d.autoMigrated(ctx, conn)
		if err != nil {
			return false, err
		}
		if legacy {
			// Created by automatic migration before versioned migrations:
			// bring it to the schema automatically once more, then record
			// every file as applied (the baseline).
			return true, rrw.baseline(ctx, d, files)
		}
	}
	drv, err := postgres.Open(conn)
	if err != nil {
		return false, fmt.Errorf("migrate: %w", err)
	}
	// "Dirty" to Atlas: it sees the public schema (and our revision table),
	// not a connection scoped to one schema. A database with the gateway's
	// tables but no revisions took the baseline path above.
	ex, err := atlas.NewExecutor(drv, dir, rrw, atlas.WithAllowDirty(true))
	if err != nil {
		return false, fmt.Errorf("migrate: %w", err)
	}
	switch err := ex.ExecuteN(ctx, 0); {
	case errors.Is(err, atlas.ErrNoPendingFiles):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("migrate: %w", err)
	}
	return true, nil
}

// refuseNewer is ErrNewerSchema when the database records a version this
// binary has no file for.
func refuseNewer(applied []*atlas.Revision, files []atlas.File) error {
	known := make([]string, len(files))
	for i, f := range files {
		known[i] = f.Version()
	}
	for _, r := range applied {
		if !slices.Contains(known, r.Version) {
			return ErrNewerSchema{Database: r.Version, Binary: SchemaVersion()}
		}
	}
	return nil
}

// autoMigrated reports whether the database holds the gateway's tables
// without any recorded migration (created by an older, automatically
// migrating version).
func (d *DB) autoMigrated(ctx context.Context, conn *sql.Conn) (bool, error) {
	var exists bool
	err := conn.QueryRowContext(ctx, `SELECT to_regclass('ent_types') IS NOT NULL`).Scan(&exists)
	if err != nil {
		return false, fmt.Errorf("migrate: %w", err)
	}
	return exists, nil
}

// CheckVersion refuses a PostgreSQL database that has not applied every
// migration of this binary, or has applied a newer one (for instances that
// do not migrate at start).
func (d *DB) CheckVersion(ctx context.Context) error {
	if d.Dialect != dialect.Postgres {
		return nil
	}
	dir, err := migrationDir()
	if err != nil {
		return err
	}
	files, err := dir.Files()
	if err != nil {
		return err
	}
	conn, err := d.SQL.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	applied, err := (&revisions{conn: conn}).ReadRevisions(ctx)
	if err != nil {
		return fmt.Errorf("the database has no migrations recorded (run `authz-gateway migrate` first): %w", err)
	}
	if err := refuseNewer(applied, files); err != nil {
		return err
	}
	if len(applied) < len(files) {
		return fmt.Errorf("the database has applied %d of this binary's %d migrations: run `authz-gateway migrate`", len(applied), len(files))
	}
	return nil
}

// revisions is Atlas's revision table, atlas_schema_revisions: one row per
// applied migration file.
type revisions struct{ conn *sql.Conn }

var _ atlas.RevisionReadWriter = (*revisions)(nil)

// storedRevision is a Revision as the table keeps it (Revision's own JSON
// leaves the hashes out and writes its type as text it cannot read back).
type storedRevision struct {
	Version, Description string
	Type                 uint
	Applied, Total       int
	ExecutedAt           time.Time
	ExecutionTime        time.Duration
	Error, ErrorStmt     string
	Hash                 string
	PartialHashes        []string
	OperatorVersion      string
}

func (r *revisions) init(ctx context.Context) error {
	_, err := r.conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS atlas_schema_revisions (
		version text PRIMARY KEY, revision jsonb NOT NULL)`)
	if err != nil {
		return fmt.Errorf("migrate: the revision table: %w", err)
	}
	return nil
}

// Ident names the table (Atlas keeps it out of the schema it inspects).
func (r *revisions) Ident() *atlas.TableIdent {
	return &atlas.TableIdent{Name: "atlas_schema_revisions"}
}

// ReadRevisions returns the applied revisions, oldest first.
func (r *revisions) ReadRevisions(ctx context.Context) ([]*atlas.Revision, error) {
	rows, err := r.conn.QueryContext(ctx, `SELECT revision FROM atlas_schema_revisions ORDER BY version`)
	if err != nil {
		return nil, fmt.Errorf("migrate: read revisions: %w", err)
	}
	defer rows.Close()
	var out []*atlas.Revision
	for rows.Next() {
		var raw []byte
		if err := rows.Scan(&raw); err != nil {
			return nil, err
		}
		rev, err := decodeRevision(raw)
		if err != nil {
			return nil, err
		}
		out = append(out, rev)
	}
	return out, rows.Err()
}

// ReadRevision returns one revision, or ErrRevisionNotExist.
func (r *revisions) ReadRevision(ctx context.Context, version string) (*atlas.Revision, error) {
	var raw []byte
	err := r.conn.QueryRowContext(ctx, `SELECT revision FROM atlas_schema_revisions WHERE version = $1`, version).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, atlas.ErrRevisionNotExist
	}
	if err != nil {
		return nil, err
	}
	return decodeRevision(raw)
}

// WriteRevision saves a revision.
func (r *revisions) WriteRevision(ctx context.Context, rev *atlas.Revision) error {
	raw, err := json.Marshal(storedRevision{
		Version: rev.Version, Description: rev.Description, Type: uint(rev.Type), Applied: rev.Applied, Total: rev.Total,
		ExecutedAt: rev.ExecutedAt, ExecutionTime: rev.ExecutionTime, Error: rev.Error, ErrorStmt: rev.ErrorStmt,
		Hash: rev.Hash, PartialHashes: rev.PartialHashes, OperatorVersion: rev.OperatorVersion,
	})
	if err != nil {
		return err
	}
	_, err = r.conn.ExecContext(ctx, `INSERT INTO atlas_schema_revisions (version, revision) VALUES ($1, $2)
		ON CONFLICT (version) DO UPDATE SET revision = excluded.revision`, rev.Version, raw)
	return err
}

// DeleteRevision removes a revision.
func (r *revisions) DeleteRevision(ctx context.Context, version string) error {
	_, err := r.conn.ExecContext(ctx, `DELETE FROM atlas_schema_revisions WHERE version = $1`, version)
	return err
}

// baseline migrates an automatically migrated database automatically once
// more, then records every file as applied.
func (r *revisions) baseline(ctx context.Context, d *DB, files []atlas.File) error {
	if err := d.Migrate(ctx); err != nil {
		return err
	}
	for _, f := range files {
		stmts, err := f.Stmts()
		if err != nil {
			return err
		}
		rev := &atlas.Revision{Version: f.Version(), Description: f.Desc(), Type: atlas.RevisionTypeBaseline,
			Applied: len(stmts), Total: len(stmts)}
		if err := r.WriteRevision(ctx, rev); err != nil {
			return err
		}
	}
	return nil
}

func decodeRevision(raw []byte) (*atlas.Revision, error) {
	var s storedRevision
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("migrate: a revision: %w", err)
	}
	return &atlas.Revision{
		Version: s.Version, Description: s.Description, Type: atlas.RevisionType(s.Type), Applied: s.Applied, Total: s.Total,
		ExecutedAt: s.ExecutedAt, ExecutionTime: s.ExecutionTime, Error: s.Error, ErrorStmt: s.ErrorStmt,
		Hash: s.Hash, PartialHashes: s.PartialHashes, OperatorVersion: s.OperatorVersion,
	}, nil
}
