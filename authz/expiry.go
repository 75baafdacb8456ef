package authz

// Time-bound grants (docs/design.md, "Time-bound grants"). A role or scope
// assignment may carry expires_at; from that instant, on the database's
// clock, it counts as inactive everywhere. Three things make that so:
//
//   - every query that reads assignments filters ended ones out with the
//     database's own clock (answers.NotEnded, resolver.live);
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
	"fmt"
	"time"

	"authz-gateway/answers"
	"authz-gateway/ent"
	"authz-gateway/ent/predicate"
	"authz-gateway/ent/roleassignment"
	"authz-gateway/ent/scopeassignment"
	"authz-gateway/ent/teammembership"
	"authz-gateway/freshness"
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

// endSetter is an update of a grant with an end (a role or scope
// assignment, a team membership).
type endSetter[U any] interface {
	SetExpiresAt(time.Time) U
	ClearExpiresAt() U
	SetExpireLogged(bool) U
}

// newEnd gives a grant's update its end anew (nil: none), its expiry to be
// logged again: what assigning again does.
func newEnd[U endSetter[U]](upd U, end *time.Time) U {
	upd.SetExpireLogged(false)
	if end == nil {
		return upd.ClearExpiresAt()
	}
	return upd.SetExpiresAt(*end)
}

// GrantEnds answers the expiry watcher (freshness.Log.StartExpiry) about
// the role and scope assignments src reads. Its reads are marked
// "/* expiry */": background work, no request's.
func GrantEnds(src *answers.Source) freshness.Ends { return grantEnds{src} }

type grantEnds struct{ src *answers.Source }

func (g grantEnds) NextEnd(ctx context.Context) (time.Time, error) {
	return g.src.NextEnd(ctx)
}

func (g grantEnds) Ended(ctx context.Context, limit int) ([]freshness.Grant, error) {
	var out []freshness.Grant
	for _, kind := range []string{"role", "scope", "membership"} {
		table := kind + "_assignments"
		if kind == "membership" {
			table = "team_memberships"
		}
		ids, err := g.src.Ended(ctx, table, limit-len(out))
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

// Expire marks one ended assignment's end logged and returns its change:
// the conditional update lets one instance through (PostgreSQL re-checks it
// after a concurrent writer's commit; SQLite serializes writers), the
// others get freshness.ErrLoggedAlready.
func (g grantEnds) Expire(ctx context.Context, tx *ent.Tx, grant freshness.Grant) (freshness.Change, error) {
	var n int
	var err error
	switch grant.Kind {
	case "role":
		n, err = tx.RoleAssignment.Update().
			Where(roleassignment.ID(grant.ID), roleassignment.ExpireLogged(false), roleassignment.ExpiresAtNotNil(),
				roleassignment.Not(predicate.RoleAssignment(answers.NotEnded))).
			SetExpireLogged(true).Save(ctx)
	case "membership":
		n, err = tx.TeamMembership.Update().
			Where(teammembership.ID(grant.ID), teammembership.ExpireLogged(false), teammembership.ExpiresAtNotNil(),
				teammembership.Not(predicate.TeamMembership(answers.NotEnded))).
			SetExpireLogged(true).Save(ctx)
	default:
		n, err = tx.ScopeAssignment.Update().
			Where(scopeassignment.ID(grant.ID), scopeassignment.ExpireLogged(false), scopeassignment.ExpiresAtNotNil(),
				scopeassignment.Not(predicate.ScopeAssignment(answers.NotEnded))).
			SetExpireLogged(true).Save(ctx)
	}
	switch {
	case err != nil:
		return freshness.Change{}, err
	case n == 0:
		return freshness.Change{}, freshness.ErrLoggedAlready
	}
	switch grant.Kind {
	case "role":
		ra, err := tx.RoleAssignment.Query().Where(roleassignment.ID(grant.ID)).WithRole().Only(ctx)
		if err != nil {
			return freshness.Change{}, err
		}
		// Roles are GLOBAL business: no narrower scope (On) to read it by.
		c := heldBy(deref(ra.UserID), deref(ra.TeamID)).change()
		c.Target = fmt.Sprintf("%s, role %s (ended %s)", holderName(ra.UserID, ra.TeamID), ra.Edges.Role.Type, ra.ExpiresAt.UTC().Format(time.RFC3339))
		return c, nil
	case "membership":
		m, err := tx.TeamMembership.Get(ctx, grant.ID)
		if err != nil {
			return freshness.Change{}, err
		}
		return freshness.Change{Users: []int{m.UserID},
			Target: fmt.Sprintf("team %d, member user %d (ended %s)", m.TeamID, m.UserID, m.ExpiresAt.UTC().Format(time.RFC3339))}, nil
	}
	sa, err := tx.ScopeAssignment.Get(ctx, grant.ID)
	if err != nil {
		return freshness.Change{}, err
	}
	c := heldBy(deref(sa.UserID), deref(sa.TeamID)).change()
	target, on := describeScopes([]*ent.ScopeAssignment{sa})
	c.Target, c.On = fmt.Sprintf("%s (ended %s)", target, sa.ExpiresAt.UTC().Format(time.RFC3339)), on
	return c, nil
}
