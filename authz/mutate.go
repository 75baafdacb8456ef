package authz

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"authz-gateway/access"
	"authz-gateway/apperr"
	"authz-gateway/ent"
	"authz-gateway/ent/predicate"
	"authz-gateway/ent/role"
	"authz-gateway/ent/scopeassignment"
	"authz-gateway/ent/teammembership"
	"authz-gateway/freshness"

	"entgo.io/ent/dialect"
)

// write is the skeleton of every checked write: the viewer must hold perm,
// inReach must accept the viewer's reach, then change runs through mutate.
func (s *Service) write(ctx context.Context, op string, perm access.Permission, inReach func(access.Reach) error,
	change func(ctx context.Context, tx *ent.Tx) (freshness.Change, error)) error {
	reach, err := s.Require(ctx, perm)
	if err != nil {
		return err
	}
	if err := inReach(reach); err != nil {
		return err
	}
	return s.mutate(ctx, op, change)
}

// mutate runs change through the access-change log (freshness.Log.Commit:
// the change and its entry in one transaction, then the delivery, then the
// wait for the fleet). Every write of the domain commits here; the expiry
// watcher (freshness.Expiry) and the log's repair commit through Commit
// too, being the log's own entries.
func (s *Service) mutate(ctx context.Context, op string, change func(ctx context.Context, tx *ent.Tx) (freshness.Change, error)) error {
	if err := s.log.Commit(ctx, op, change); err != nil {
		return err
	}
	// What the request reads next (the mutation's result, a later mutation's
	// checks) must see this write.
	forgetViewer(ctx)
	return nil
}

func onProgram(id int) freshness.Scope { return freshness.Scope{Kind: "program", ID: id} }
func onProject(id int) freshness.Scope { return freshness.Scope{Kind: "project", ID: id} }

// Holders returns the users whose scopes reach a change's targets (its
// programs, its projects, every GLOBAL scope when GlobalHolders), directly
// or as members of a team that holds such a scope, and the members of the
// change's teams; active or not: an inactive scope or membership can be
// activated concurrently. It is the domain's answer to "who is affected"
// beyond the users a change names; the log asks it when it delivers a
// change (freshness.Config.Holders).
func Holders(ctx context.Context, db *ent.Client, c freshness.Change) ([]int, error) {
	users, teams, err := scopeHolders(ctx, db, c)
	if err != nil {
		return nil, err
	}
	members, err := teamMembers(ctx, db, freshness.Union(c.Teams, teams))
	if err != nil {
		return nil, err
	}
	return freshness.Union(users, members), nil
}

// scopeHolders returns the holders of scopes on a change's targets: the
// users who hold one themselves, and the teams that do.
func scopeHolders(ctx context.Context, db *ent.Client, c freshness.Change) (users, teams []int, err error) {
	var or []predicate.ScopeAssignment
	if len(c.Programs) > 0 {
		or = append(or, scopeassignment.ProgramIDIn(c.Programs...))
	}
	if len(c.Projects) > 0 {
		or = append(or, scopeassignment.ProjectIDIn(c.Projects...))
	}
	if c.GlobalHolders {
		or = append(or, scopeassignment.ScopeTypeEQ(access.ScopeGlobal))
	}
	if len(or) == 0 {
		return nil, nil, nil
	}
	var rows []holderRow
	err = db.ScopeAssignment.Query().
		Where(scopeassignment.Or(or...)).
		Unique(true).
		Select(scopeassignment.FieldUserID, scopeassignment.FieldTeamID).
		Scan(ctx, &rows)
	if err != nil {
		return nil, nil, fmt.Errorf("find affected users: %w", err)
	}
	held := holdersOf(rows)
	return held.users, held.teams, nil
}

// teamMembers returns the members of teams, active or not.
func teamMembers(ctx context.Context, db *ent.Client, teams []int) ([]int, error) {
	if len(teams) == 0 {
		return nil, nil
	}
	ids, err := db.TeamMembership.Query().
		Where(teammembership.TeamIDIn(teams...)).
		Unique(true).
		Select(teammembership.FieldUserID).
		Ints(ctx)
	if err != nil {
		return nil, fmt.Errorf("find the members of teams: %w", err)
	}
	return ids, nil
}

// holdersBeforeDelete returns c with the current holders of its targets
// added to its users, and the teams holding scopes on them to its teams
// (their members are found at delivery: one added concurrently, after this
// read, is found then). Call it inside the transaction, after locking the
// targets and before deleting them (the delete cascades to their scopes).
func holdersBeforeDelete(ctx context.Context, tx *ent.Tx, c freshness.Change) (freshness.Change, error) {
	users, teams, err := scopeHolders(ctx, tx.Client(), c)
	if err != nil {
		return freshness.Change{}, err
	}
	c.Users = freshness.Union(c.Users, users)
	c.Teams = freshness.Union(c.Teams, teams)
	return c, nil
}

// locksRows reports whether transactions take row locks. On PostgreSQL they
// do (FOR UPDATE); SQLite transactions are opened IMMEDIATE, which serializes
// writers already and has no row locks.
func (s *Service) locksRows() bool { return s.answers.Dialect() == dialect.Postgres }

// lockRows locks the rows q selects before a delete, so that no concurrent
// transaction can add a scope on them (its foreign-key check waits) between
// collecting their holders and deleting them.
func (s *Service) lockRows(ctx context.Context, what string, q interface {
	IDs(context.Context) ([]int, error)
}) error {
	if !s.locksRows() {
		return nil
	}
	if _, err := q.IDs(ctx); err != nil {
		return fmt.Errorf("lock %s: %w", what, err)
	}
	return nil
}

func (s *Service) lockRole(ctx context.Context, tx *ent.Tx, rt access.RoleType) (*ent.Role, error) {
	q := tx.Role.Query().Where(role.TypeEQ(rt))
	if s.locksRows() {
		q = q.ForUpdate()
	}
	r, err := q.Only(ctx)
	if err != nil {
		return nil, dbError(err, "role "+string(rt))
	}
	return r, nil
}

// dbError turns ent errors into coded ones: not found, invalid input and
// constraint violations are the client's to fix; anything else is internal.
func dbError(err error, what string) error {
	var coded *apperr.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &coded):
		return err
	case ent.IsNotFound(err):
		return apperr.Wrap(apperr.NotFound, err, what+" not found")
	case ent.IsValidationError(err):
		return apperr.Wrap(apperr.BadUserInput, err, strings.TrimPrefix(err.Error(), "ent: "))
	case ent.IsConstraintError(err):
		return apperr.Wrap(apperr.BadUserInput, err, what+" conflicts with existing data")
	}
	return fmt.Errorf("%s: %w", what, err)
}

// mustExist is NOT_FOUND when exists says no.
func mustExist(ctx context.Context, exists func(context.Context) (bool, error), what string) error {
	ok, err := exists(ctx)
	if err != nil {
		return dbError(err, what)
	}
	if !ok {
		return apperr.Errorf(apperr.NotFound, "%s not found", what)
	}
	return nil
}

// mustBeFree gives a clear BAD_USER_INPUT when taken says a unique value is in
// use; the unique index still decides races.
func mustBeFree(ctx context.Context, taken func(context.Context) (bool, error), what, format string, args ...any) error {
	yes, err := taken(ctx)
	if err != nil {
		return dbError(err, what)
	}
	if yes {
		return badInput(format, args...)
	}
	return nil
}
