// Package db opens the database (PostgreSQL through lib/pq, or an embedded
// SQLite file through a pure-Go driver), migrates it, and writes the data every
// start needs (default roles, the admin) and the optional demo catalog.
package db

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"
	"time"

	"authz-gateway/ent"
	"authz-gateway/ent/migrate"
	"authz-gateway/redact"

	// Registers the schema hooks and privacy policies with the ent client.
	_ "authz-gateway/ent/runtime"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/XSAM/otelsql"
	"github.com/lib/pq"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	_ "modernc.org/sqlite"
)

// DB is an open database with its ent client.
type DB struct {
	Client *ent.Client
	// SQL is the underlying pool (health checks, pool stats).
	SQL *sql.DB
	// Dialect is ent's dialect name: dialect.Postgres or dialect.SQLite.
	Dialect string
}

// Options tune Open.
type Options struct {
	// Driver wraps the ent driver, e.g. to count statements in tests.
	Driver func(dialect.Driver) dialect.Driver
	// Timeout bounds connecting to PostgreSQL and every wait for it to
	// answer (default DefaultTimeout).
	Timeout time.Duration
	// Traced opens the pool through otelsql: a span per statement.
	Traced bool
	// MaxConns bounds PostgreSQL's connection pool (default
	// DefaultMaxConns).
	MaxConns int
}

// DefaultMaxConns is the PostgreSQL pool's bound by default. Connections
// idle for poolIdle close, so an idle instance holds the one its background
// work uses (and its listener): a fleet of a hundred idle instances holds
// about two hundred connections, not a hundred pools.
const DefaultMaxConns = 20

const poolIdle = 10 * time.Second

// DefaultTimeout is how long the gateway waits for PostgreSQL to connect or
// to answer one read before it gives up on the connection.
const DefaultTimeout = 3 * time.Second

// OpenPostgres opens a PostgreSQL database from a postgres:// URL.
func OpenPostgres(dsn string, opts Options) (*DB, error) {
	connector, err := pq.NewConnector(dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", redact.Error(err))
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	connector.Dialer(deadlineDialer{timeout: timeout})
	pool := sql.OpenDB(connector)
	if opts.Traced {
		pool = otelsql.OpenDB(connector, otelsql.WithAttributes(semconv.DBSystemPostgreSQL))
	}
	maxConns := opts.MaxConns
	if maxConns <= 0 {
		maxConns = DefaultMaxConns
	}
	pool.SetMaxOpenConns(maxConns)
	pool.SetMaxIdleConns(maxConns)
	pool.SetConnMaxIdleTime(poolIdle)
	return newDB(pool, dialect.Postgres, opts), nil
}

// OpenSQLite opens (creating if needed) a SQLite file. Foreign keys are on,
// and transactions begin IMMEDIATE so writers serialize at BEGIN: the authz
// service relies on that where PostgreSQL uses row locks.
func OpenSQLite(path string, opts Options) (*DB, error) {
	q := url.Values{}
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_txlock", "immediate")
	// Times as SQLite's date functions read them (the default, Go's
	// time.String, they cannot): time-bound grants compare expires_at with
	// julianday('now').
	q.Add("_time_format", "sqlite")
	open := sql.Open
	if opts.Traced {
		open = func(driver, dsn string) (*sql.DB, error) {
			return otelsql.Open(driver, dsn, otelsql.WithAttributes(semconv.DBSystemSqlite))
		}
	}
	pool, err := open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	return newDB(pool, dialect.SQLite, opts), nil
}

// Open opens PostgreSQL when dsn is a postgres:// URL, else the SQLite file
// sqlitePath.
func Open(dsn, sqlitePath string, opts Options) (*DB, error) {
	if IsPostgresURL(dsn) {
		return OpenPostgres(dsn, opts)
	}
	if dsn != "" {
		return nil, fmt.Errorf("DATABASE_URL must be a postgres:// or postgresql:// URL")
	}
	return OpenSQLite(sqlitePath, opts)
}

// IsPostgresURL reports whether dsn selects PostgreSQL.
func IsPostgresURL(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

func newDB(pool *sql.DB, name string, opts Options) *DB {
	var drv dialect.Driver = entsql.OpenDB(name, pool)
	if opts.Driver != nil {
		drv = opts.Driver(drv)
	}
	return &DB{Client: ent.NewClient(ent.Driver(drv)), SQL: pool, Dialect: name}
}

// Migrate creates or updates the schema automatically (SQLite, tests, and
// databases from before versioned migrations), with the catalog counts'
// triggers on PostgreSQL. IDs are globally unique across types (each type
// owns a range), which is what makes `node(id:)` work.
func (d *DB) Migrate(ctx context.Context) error {
	if err := d.Client.Schema.Create(ctx, migrate.WithGlobalUniqueID(true)); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return d.installCatalogCounts(ctx)
}

// Ping checks the database answers.
func (d *DB) Ping(ctx context.Context) error { return d.SQL.PingContext(ctx) }

// Close closes the client and the pool.
func (d *DB) Close() error { return d.Client.Close() }
