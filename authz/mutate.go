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
	"authz-gateway/ent/program"
	"authz-gateway/ent/project"
	"authz-gateway/ent/role"
	"authz-gateway/ent/scopeassignment"
	"authz-gateway/reqctx"
)

// impact describes whose cached answers a change can alter: named users, the
// holders of scopes on some programs and projects, and (for changes to the
// catalog as a whole) every holder of a GLOBAL scope.
type impact struct {
	users    []int
	programs []int
	projects []int
	global   bool
}

// mutate runs change in a transaction, commits, and only then invalidates the
// users the change can affect. Holders of the impact's targets are collected
// after the commit: anyone who gains a scope on a target later invalidates
// themselves after their own commit, which follows ours. A change that deletes
// targets must collect their holders itself, inside the transaction, after
// locking the targets (see holdersBeforeDelete). Invalidation failures do not
// fail the mutation: the cache then bypasses itself until it can invalidate
// everything.
func (s *Service) mutate(ctx context.Context, change func(ctx context.Context, tx *ent.Tx) (impact, error)) error {
	ctx = reqctx.NewSystemContext(ctx)
	tx, err := s.db.Tx(ctx)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	imp, err := change(ctx, tx)
	if err != nil {
		if rerr := tx.Rollback(); rerr != nil {
			slog.ErrorContext(ctx, "rollback failed", "err", rerr)
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	after, err := holders(ctx, s.db, imp)
	if err != nil {
		// The change is committed; without the list, invalidate everyone.
		slog.ErrorContext(ctx, "find affected users after commit; invalidating all", "err", err)
		_ = s.cache.InvalidateAll(ctx)
		return nil
	}
	users := union(imp.users, after)
	if err := s.cache.InvalidateUsers(ctx, users); err != nil {
		slog.WarnContext(ctx, "invalidation undelivered; cache bypassed until recovery", "users", len(users), "err", err)
	}
	return nil
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

// lockPrograms and lockProjects take row locks (PostgreSQL) before a delete, so
// that no concurrent transaction can add a scope on these rows (its foreign-key
// check waits) between collecting their holders and deleting them. SQLite transactions are opened IMMEDIATE,
// which serializes writers already.
func (s *Service) lockPrograms(ctx context.Context, tx *ent.Tx, ids ...int) error {
	if !s.res.postgres || len(ids) == 0 {
		return nil
	}
	if _, err := tx.Program.Query().Where(program.IDIn(ids...)).ForUpdate().IDs(ctx); err != nil {
		return fmt.Errorf("lock programs: %w", err)
	}
	return nil
}

func (s *Service) lockProjects(ctx context.Context, tx *ent.Tx, ids ...int) error {
	if !s.res.postgres || len(ids) == 0 {
		return nil
	}
	if _, err := tx.Project.Query().Where(project.IDIn(ids...)).ForUpdate().IDs(ctx); err != nil {
		return fmt.Errorf("lock projects: %w", err)
	}
	return nil
}

func (s *Service) lockRole(ctx context.Context, tx *ent.Tx, rt access.RoleType) (*ent.Role, error) {
	q := tx.Role.Query().Where(role.TypeEQ(rt))
	if s.res.postgres {
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
