package testenv

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"strings"
	"sync"

	"entgo.io/ent/dialect"
	"github.com/redis/go-redis/v9"
)

// SQLCounter wraps an ent driver and records every statement sent to the
// database (inside transactions too), except the access-change log's, the
// fleet's and the expiry watcher's: the log watcher polls the log, the fleet
// renews its lease and the expiry watcher looks for the next end in the
// background, which is no request's doing (their own tests look at the
// log and the fleet, not at counts).
type SQLCounter struct {
	mu         sync.Mutex
	stmts      []string
	background []string // the excluded: the log's, the fleet's, the expiry watcher's
}

// Wrap is a db.Options.Driver: it returns drv with counting.
func (c *SQLCounter) Wrap(drv dialect.Driver) dialect.Driver {
	return &countingDriver{Driver: drv, c: c}
}

func (c *SQLCounter) record(query string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if strings.Contains(query, "access_change") || strings.HasPrefix(query, "/* fleet */") || strings.HasPrefix(query, "/* expiry */") {
		c.background = append(c.background, query)
		return
	}
	c.stmts = append(c.stmts, query)
}

// Reset forgets what was recorded.
func (c *SQLCounter) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stmts, c.background = nil, nil
}

// Background returns the statements Count leaves out (the log's, the
// fleet's, the expiry watcher's) since the last Reset.
func (c *SQLCounter) Background() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.background...)
}

// Count returns how many statements were sent since the last Reset.
func (c *SQLCounter) Count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.stmts)
}

// Matching returns the recorded statements that contain all of substrs.
func (c *SQLCounter) Matching(substrs ...string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
next:
	for _, s := range c.stmts {
		for _, sub := range substrs {
			if !strings.Contains(s, sub) {
				continue next
			}
		}
		out = append(out, s)
	}
	return out
}

// Statements returns a copy of the recorded statements.
func (c *SQLCounter) Statements() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.stmts...)
}

type countingDriver struct {
	dialect.Driver
	c *SQLCounter
}

func (d *countingDriver) Exec(ctx context.Context, query string, args, v any) error {
	d.c.record(query)
	return d.Driver.Exec(ctx, query, args, v)
}

func (d *countingDriver) Query(ctx context.Context, query string, args, v any) error {
	d.c.record(query)
	return d.Driver.Query(ctx, query, args, v)
}

func (d *countingDriver) Tx(ctx context.Context) (dialect.Tx, error) {
	tx, err := d.Driver.Tx(ctx)
	if err != nil {
		return nil, err
	}
	return &countingTx{Tx: tx, c: d.c}, nil
}

// BeginTx serves ent's Client.BeginTx (a transaction with options, such as
// the read-only snapshot of authz's computations).
func (d *countingDriver) BeginTx(ctx context.Context, opts *sql.TxOptions) (dialect.Tx, error) {
	b, ok := d.Driver.(interface {
		BeginTx(context.Context, *sql.TxOptions) (dialect.Tx, error)
	})
	if !ok {
		return nil, fmt.Errorf("testenv: %T has no BeginTx", d.Driver)
	}
	tx, err := b.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &countingTx{Tx: tx, c: d.c}, nil
}

// QueryContext and ExecContext serve ent's raw-SQL API (sql/execquery).
func (d *countingDriver) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return queryContext(d.c, d.Driver, ctx, query, args)
}

// queryContext counts and runs a raw query on drv (a driver or a
// transaction).
func queryContext(c *SQLCounter, drv any, ctx context.Context, query string, args []any) (*sql.Rows, error) {
	c.record(query)
	q, ok := drv.(interface {
		QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	})
	if !ok {
		return nil, fmt.Errorf("testenv: %T has no QueryContext", drv)
	}
	return q.QueryContext(ctx, query, args...)
}

func (d *countingDriver) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return execContext(d.c, d.Driver, ctx, query, args)
}

// execContext counts and runs a raw statement on drv (a driver or a
// transaction).
func execContext(c *SQLCounter, drv any, ctx context.Context, query string, args []any) (sql.Result, error) {
	c.record(query)
	e, ok := drv.(interface {
		ExecContext(context.Context, string, ...any) (sql.Result, error)
	})
	if !ok {
		return nil, fmt.Errorf("testenv: %T has no ExecContext", drv)
	}
	return e.ExecContext(ctx, query, args...)
}

type countingTx struct {
	dialect.Tx
	c *SQLCounter
}

func (t *countingTx) Exec(ctx context.Context, query string, args, v any) error {
	t.c.record(query)
	return t.Tx.Exec(ctx, query, args, v)
}

func (t *countingTx) Query(ctx context.Context, query string, args, v any) error {
	t.c.record(query)
	return t.Tx.Query(ctx, query, args, v)
}

// ExecContext and QueryContext serve raw statements in a transaction (the
// log's NOTIFY, the fleet's clock).
func (t *countingTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return execContext(t.c, t.Tx, ctx, query, args)
}

func (t *countingTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return queryContext(t.c, t.Tx, ctx, query, args)
}

// RedisCounter is a go-redis hook counting round trips: one per command sent
// alone and one per pipeline, however many commands it carries. The handshake
// of a new pooled connection is not counted: when the pool opens one is not
// the code under test's doing.
type RedisCounter struct {
	mu    sync.Mutex
	trips int
}

var _ redis.Hook = (*RedisCounter)(nil)

var handshake = map[string]bool{"hello": true, "auth": true, "select": true, "client": true}

// Trips returns the round trips since the last Reset.
func (c *RedisCounter) Trips() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.trips
}

// Reset zeroes the counter.
func (c *RedisCounter) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.trips = 0
}

func (c *RedisCounter) add() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.trips++
}

func (c *RedisCounter) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		return next(ctx, network, addr)
	}
}

func (c *RedisCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !handshake[cmd.Name()] {
			c.add()
		}
		return next(ctx, cmd)
	}
}

func (c *RedisCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if !activityFlush(cmds) {
			c.add()
		}
		return next(ctx, cmds)
	}
}

// activityFlush reports whether cmds are warming's record of active users
// (warm/warm.go: the periodic flush, the read of a warm run): background
// work, no request's doing, like the log statements the SQL counter leaves
// out.
func activityFlush(cmds []redis.Cmder) bool {
	for _, cmd := range cmds {
		if name := cmd.Name(); name != "zadd" && name != "zremrangebyrank" && name != "zrange" {
			return false
		}
	}
	return len(cmds) > 0
}
