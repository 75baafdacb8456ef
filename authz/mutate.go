package authz

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"authz-gateway/access"
	"authz-gateway/apperr"
	"authz-gateway/ent"
	"authz-gateway/ent/predicate"
	"authz-gateway/ent/role"
	"authz-gateway/ent/scopeassignment"
	"authz-gateway/reqctx"

	"entgo.io/ent/dialect"
)

// impact describes whose cached answers a change can alter: named users, the
// holders of scopes on some programs and projects, (for changes to the catalog
// as a whole) every holder of a GLOBAL scope, or everyone. It also says what
// the change was about, for the access-change log.
type impact struct {
	users    []int
	programs []int
	projects []int
	global   bool
	all      bool
	target   string
	on       auditScope
}

// write is the skeleton of every checked write: the viewer must hold perm,
// inReach must accept the viewer's reach, then change runs through mutate.
func (s *Service) write(ctx context.Context, op string, perm access.Permission, inReach func(access.Reach) error,
	change func(ctx context.Context, tx *ent.Tx) (impact, error)) error {
	reach, err := s.require(ctx, perm)
	if err != nil {
		return err
	}
	if err := inReach(reach); err != nil {
		return err
	}
	return s.mutate(ctx, op, change)
}

// mutate runs change in a transaction that also appends the change to the
// access-change log, commits, and only then delivers the change to the cache
// (invalidating the users it can affect). This is the one place writes
// invalidate. Holders of the impact's targets are collected at delivery,
// after the commit: anyone who gains a scope on a target later invalidates
// themselves after their own commit, which follows ours. A change that
// deletes targets must collect their holders itself, inside the transaction,
// after locking the targets (see holdersBeforeDelete). A delivery that fails
// does not fail the mutation: the entry stays undelivered in the log, this
// cache bypasses itself until it can invalidate everything, and every other
// instance bypasses Redis until some instance has delivered the entry (their
// L1s at once: fleet.go).
func (s *Service) mutate(ctx context.Context, op string, change func(ctx context.Context, tx *ent.Tx) (impact, error)) error {
	ctx = reqctx.NewContextWithSystem(ctx)
	if _, err := s.commitAndDeliver(ctx, op, change); err != nil {
		return err
	}
	// What the request reads next (the mutation's result, a later mutation's
	// checks) must see this write.
	forgetViewer(ctx)
	if f := s.fleet.Load(); f != nil {
		// Before the write returns, every other instance's L1 has dropped
		// what the change affects, or stopped answering (the change is not
		// delivered yet, or the instance's lease ran out): fleet.go.
		f.await(ctx)
	}
	return nil
}

// commitAndDeliver is mutate without the wait for the fleet: the change and
// its log entry in one transaction, then the delivery. It reports whether
// the delivery succeeded (a failed one is logged, not returned).
func (s *Service) commitAndDeliver(ctx context.Context, op string, change func(ctx context.Context, tx *ent.Tx) (impact, error)) (delivered bool, err error) {
	tx, err := s.db.Tx(ctx)
	if err != nil {
		return false, fmt.Errorf("begin transaction: %w", err)
	}
	imp, err := change(ctx, tx)
	var entry *ent.AccessChange
	if err == nil {
		entry, err = s.appendChange(ctx, tx, op, imp)
	}
	if err != nil {
		if rerr := tx.Rollback(); rerr != nil {
			slog.ErrorContext(ctx, "rollback failed", "err", rerr)
		}
		return false, err
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("commit: %w", err)
	}
	if err := s.deliver(ctx, entry); err != nil {
		slog.WarnContext(ctx, "access change undelivered; the log keeps it for any instance to deliver",
			"change", entry.ID, "err", err)
		return false, nil
	}
	return true, nil
}

// holdersBeforeDelete returns imp with the current holders of its targets
// added to its users. Call it inside the transaction, after locking the
// targets and before deleting them (the delete cascades to their scopes).
func holdersBeforeDelete(ctx context.Context, tx *ent.Tx, imp impact) (impact, error) {
	users, err := holders(ctx, tx.Client(), imp)
	if err != nil {
		return impact{}, err
	}
	imp.users = union(imp.users, users)
	return imp, nil
}

// holders returns the users whose scopes reach the impact's targets (active or
// not: an inactive scope can be activated concurrently).
func holders(ctx context.Context, db *ent.Client, imp impact) ([]int, error) {
	var or []predicate.ScopeAssignment
	if len(imp.programs) > 0 {
		or = append(or, scopeassignment.ProgramIDIn(imp.programs...))
	}
	if len(imp.projects) > 0 {
		or = append(or, scopeassignment.ProjectIDIn(imp.projects...))
	}
	if imp.global {
		or = append(or, scopeassignment.ScopeTypeEQ(access.ScopeGlobal))
	}
	if len(or) == 0 {
		return nil, nil
	}
	ids, err := db.ScopeAssignment.Query().
		Where(scopeassignment.Or(or...)).
		Unique(true).
		Select(scopeassignment.FieldUserID).
		Ints(ctx)
	if err != nil {
		return nil, fmt.Errorf("find affected users: %w", err)
	}
	return ids, nil
}

// locksRows reports whether transactions take row locks. On PostgreSQL they
// do (FOR UPDATE); SQLite transactions are opened IMMEDIATE, which serializes
// writers already and has no row locks.
func (s *Service) locksRows() bool { return s.res.dialect == dialect.Postgres }

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
