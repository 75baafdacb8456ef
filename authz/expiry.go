package authz

// Time-bound grants (docs/design.md, "Time-bound grants"). A role or scope
// assignment may carry expires_at; from that instant, on the database's
// clock, it counts as inactive everywhere. Three things make that so:
//
//   - every query that reads assignments filters ended ones out with the
//     database's own clock (notEnded, resolver.live);
//   - every cached answer carries the earliest end among the assignments it
//     was built from (resolver.endMs -> cache.Computed.End): Redis keeps it
//     no longer, the L1 and every read reject it from then on, and no read
//     moves it (cache package);
//   - the end is an entry of the access-change log (operation "expire"),
//     appended once by whichever instance notices first (freshness's expiry
//     watcher, asking this package through Ends): the audit trail shows it,
//     accessChanged pushes it, and its delivery invalidates like any write
//     (a second line behind the first two, never the one correctness rests
//     on).

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"authz-gateway/ent"
	"authz-gateway/ent/predicate"
	"authz-gateway/ent/roleassignment"
	"authz-gateway/ent/scopeassignment"
	"authz-gateway/freshness"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
)

// checkEnd validates a grant's requested end: none, or an instant still
// ahead. It returns it in UTC at microsecond precision (what PostgreSQL
// keeps), so what is stored is what was asked.
func checkEnd(end *time.Time) (*time.Time, error) {
	if end == nil {
		return nil, nil
	}
	t := end.UTC().Truncate(time.Microsecond)
	if !t.After(time.Now()) {
		return nil, badInput("expiresAt must be in the future (it is %s)", t.Format(time.RFC3339))
	}
	return &t, nil
}

// live is the SQL condition that assignment a (an alias of role_assignments
// or scope_assignments) has not ended, on the database's clock. SQLite is
// in this process: its clock is ours; julianday reads the stored instants
// (the connection writes times as "2006-01-02 15:04:05.999999999-07:00",
// db.OpenSQLite).
func (r resolver) live(a string) string { return notEndedSQL(r.dialect, a+".expires_at") }

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

// notEnded is live as an ent predicate, for the queries built with ent
// (explainAccess, the admin rule).
func notEnded(s *entsql.Selector) {
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

// Ends answers the expiry watcher (freshness.Log.StartExpiry) from this
// service's database.
func (s *Service) Ends() freshness.Ends { return grantEnds{s} }

// grantEnds is freshness.Ends over the role and scope assignments. Its
// reads are marked "/* expiry */": background work, no request's.
type grantEnds struct{ s *Service }

func (g grantEnds) NextEnd(ctx context.Context) (time.Time, error) {
	return g.s.res.nextEnd(ctx, g.s.cache.ObserveDatabaseClock)
}

func (g grantEnds) Ended(ctx context.Context, limit int) ([]freshness.Grant, error) {
	var out []freshness.Grant
	for _, kind := range []string{"role", "scope"} {
		ids, err := g.s.res.ended(ctx, kind+"_assignments", limit-len(out))
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			out = append(out, freshness.Grant{Kind: kind, ID: id})
		}
		if len(out) == limit {
			break
		}
	}
	return out, nil
}

// ended returns the IDs of table's ended assignments whose end is not logged.
func (r resolver) ended(ctx context.Context, table string, limit int) ([]int, error) {
	q := sqlQuery{text: fmt.Sprintf(`/* expiry */ SELECT a.id FROM %s a
		WHERE a.expires_at IS NOT NULL AND NOT a.expire_logged AND NOT %s ORDER BY a.expires_at LIMIT %d`,
		table, r.live("a"), limit)}
	var ids []int
	err := r.scan(ctx, q, func(rows *sql.Rows) error {
		var id int
		if err := rows.Scan(&id); err != nil {
			return err
		}
		ids = append(ids, id)
		return nil
	})
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
	q := sqlQuery{text: fmt.Sprintf("/* expiry */ SELECT %s, %s, %s", now, pending("role_assignments"), pending("scope_assignments"))}
	sent := time.Now()
	var dbNow int64
	var roles, scopes sql.NullInt64
	if err := r.scan(ctx, q, func(rows *sql.Rows) error { return rows.Scan(&dbNow, &roles, &scopes) }); err != nil {
		return time.Time{}, fmt.Errorf("find the next end: %w", err)
	}
	if r.dialect == dialect.Postgres && observe != nil {
		observe(sent, time.UnixMilli(dbNow))
	}
	e := ends{}
	e.note(0, roles)
	e.note(0, scopes)
	end, ok := e[0]
	if !ok {
		return time.Time{}, nil
	}
	return sent.Add(time.Duration(end-dbNow) * time.Millisecond), nil
}

// Expire marks one ended assignment's end logged and returns its change:
// the conditional update lets one instance through (PostgreSQL re-checks it
// after a concurrent writer's commit; SQLite serializes writers), the
// others get freshness.ErrLoggedAlready.
func (g grantEnds) Expire(ctx context.Context, tx *ent.Tx, grant freshness.Grant) (freshness.Change, error) {
	var n int
	var err error
	if grant.Kind == "role" {
		n, err = tx.RoleAssignment.Update().
			Where(roleassignment.ID(grant.ID), roleassignment.ExpireLogged(false), roleassignment.ExpiresAtNotNil(),
				roleassignment.Not(predicate.RoleAssignment(notEnded))).
			SetExpireLogged(true).Save(ctx)
	} else {
		n, err = tx.ScopeAssignment.Update().
			Where(scopeassignment.ID(grant.ID), scopeassignment.ExpireLogged(false), scopeassignment.ExpiresAtNotNil(),
				scopeassignment.Not(predicate.ScopeAssignment(notEnded))).
			SetExpireLogged(true).Save(ctx)
	}
	switch {
	case err != nil:
		return freshness.Change{}, err
	case n == 0:
		return freshness.Change{}, freshness.ErrLoggedAlready
	}
	if grant.Kind == "role" {
		ra, err := tx.RoleAssignment.Query().Where(roleassignment.ID(grant.ID)).WithRole().Only(ctx)
		if err != nil {
			return freshness.Change{}, err
		}
		// Roles are GLOBAL business: no narrower scope (On) to read it by.
		return freshness.Change{Users: []int{ra.UserID},
			Target: fmt.Sprintf("user %d, role %s (ended %s)", ra.UserID, ra.Edges.Role.Type, ra.ExpiresAt.UTC().Format(time.RFC3339))}, nil
	}
	sa, err := tx.ScopeAssignment.Get(ctx, grant.ID)
	if err != nil {
		return freshness.Change{}, err
	}
	target, on := describeScopes([]*ent.ScopeAssignment{sa})
	return freshness.Change{Users: []int{sa.UserID},
		Target: fmt.Sprintf("%s (ended %s)", target, sa.ExpiresAt.UTC().Format(time.RFC3339)), On: on}, nil
}
