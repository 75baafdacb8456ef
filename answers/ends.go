package answers

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
)

// live is the SQL condition that assignment a (an alias of role_assignments,
// scope_assignments or team_memberships) has not ended, on the database's clock. SQLite is
// in this process: its clock is ours; julianday reads the stored instants
// (the connection writes times as "2006-01-02 15:04:05.999999999-07:00",
// db.OpenSQLite).
func (r resolver) live(a string) string { return notEndedSQL(r.dialect, a+".expires_at") }

// Live is the SQL condition that assignment alias a has not ended, in
// sqlDialect's SQL (for statements built outside this package).
func Live(sqlDialect, a string) string { return notEndedSQL(sqlDialect, a+".expires_at") }

// notEndedSQL is the condition that the end in column col has not come, in
// dialect's SQL: the one text behind live and notEnded.
func notEndedSQL(sqlDialect, col string) string {
	if sqlDialect == dialect.Postgres {
		return "(" + col + " IS NULL OR " + col + " > now())"
	}
	return "(" + col + " IS NULL OR julianday(" + col + ") > julianday('now'))"
}

// endMs is the SQL expression of assignment a's end in Unix milliseconds
// (NULL: no end), rounded down (and, in SQLite, a millisecond earlier still:
// julianday's floating point is exact to some microseconds only), so an
// answer never outlives the assignment by the rounding.
func (r resolver) endMs(a string) string {
	if r.dialect == dialect.Postgres {
		return "floor(EXTRACT(EPOCH FROM " + a + ".expires_at) * 1000)::bigint"
	}
	return "(CAST((julianday(" + a + ".expires_at) - 2440587.5) * 86400000.0 AS INTEGER) - 1)"
}

// shownMs is the SQL expression of assignment a's end in Unix
// milliseconds as clients are shown it (directScopes.expiresAt): endMs
// without SQLite's safety millisecond, rounded to the nearest millisecond
// (julianday is off by some microseconds either way), so an end given to
// the millisecond reads back exactly.
func (r resolver) shownMs(a string) string {
	if r.dialect == dialect.Postgres {
		return r.endMs(a)
	}
	return "CAST(ROUND((julianday(" + a + ".expires_at) - 2440587.5) * 86400000.0) AS INTEGER)"
}

// NotEnded is live as an ent predicate, for the queries built with ent
// (explainAccess, the admin rule).
func NotEnded(s *entsql.Selector) {
	s.Where(entsql.ExprP(notEndedSQL(s.Dialect(), s.C("expires_at"))))
}

// ends collects, per user, the earliest end among the assignments an answer
// was built from (Unix ms; absent: none).
type ends map[int]int64

func (e ends) note(user int, end sql.NullInt64) {
	if !end.Valid {
		return
	}
	if cur, ok := e[user]; !ok || end.Int64 < cur {
		e[user] = end.Int64
	}
}

// at returns user's earliest end (zero: none).
func (e ends) at(user int) time.Time {
	if ms, ok := e[user]; ok {
		return time.UnixMilli(ms)
	}
	return time.Time{}
}

// earliest returns the earlier of two ends, zero meaning none.
func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	}
	return b
}

// ended returns the IDs of table's ended assignments whose end is not logged.
func (r resolver) ended(ctx context.Context, table string, limit int) ([]int, error) {
	q := sqlQuery{text: fmt.Sprintf(`/* expiry */ SELECT a.id FROM %s a
		WHERE a.expires_at IS NOT NULL AND NOT a.expire_logged AND NOT %s ORDER BY a.expires_at LIMIT %d`,
		table, r.live("a"), limit)}
	ids, err := r.ints(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("find ended %s: %w", table, err)
	}
	return ids, nil
}

// nextEnd returns the earliest end not logged yet, on this process's clock
// (the database tells its own now beside it; the difference between the two
// clocks moves the end, rounded down), or zero when there is none. The
// database's clock reading goes to observe (PostgreSQL: another host's).
func (r resolver) nextEnd(ctx context.Context, observe func(sent, dbNow time.Time)) (time.Time, error) {
	now := "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)"
	if r.dialect == dialect.Postgres {
		now = "floor(EXTRACT(EPOCH FROM now()) * 1000)::bigint"
	}
	pending := func(table string) string {
		return fmt.Sprintf("(SELECT min(%s) FROM %s a WHERE a.expires_at IS NOT NULL AND NOT a.expire_logged)", r.endMs("a"), table)
	}
	q := sqlQuery{text: fmt.Sprintf("/* expiry */ SELECT %s, %s, %s, %s", now,
		pending("role_assignments"), pending("scope_assignments"), pending("team_memberships"))}
	sent := time.Now()
	var dbNow int64
	var roles, scopes, memberships sql.NullInt64
	if err := r.scan(ctx, q, func(rows *sql.Rows) error { return rows.Scan(&dbNow, &roles, &scopes, &memberships) }); err != nil {
		return time.Time{}, fmt.Errorf("find the next end: %w", err)
	}
	if r.dialect == dialect.Postgres && observe != nil {
		observe(sent, time.UnixMilli(dbNow))
	}
	e := ends{}
	e.note(0, roles)
	e.note(0, scopes)
	e.note(0, memberships)
	end, ok := e[0]
	if !ok {
		return time.Time{}, nil
	}
	return sent.Add(time.Duration(end-dbNow) * time.Millisecond), nil
}

// NextEnd returns the earliest end of a time-bound grant whose "expire"
// entry is not logged yet, on this process's clock (zero: none), telling
// the cache the database's clock on the way (freshness.Ends).
func (s *Source) NextEnd(ctx context.Context) (time.Time, error) {
	return s.res.nextEnd(ctx, s.cache.ObserveDatabaseClock)
}

// Ended returns up to limit IDs of table's (role_assignments,
// scope_assignments, team_memberships) ended rows whose end is not logged.
func (s *Source) Ended(ctx context.Context, table string, limit int) ([]int, error) {
	return s.res.ended(ctx, table, limit)
}
