package db

import (
	"context"
	"fmt"

	"authz-gateway/access"
	"authz-gateway/ent"
	"authz-gateway/ent/role"
	"authz-gateway/ent/roleassignment"
	"authz-gateway/ent/scopeassignment"
	"authz-gateway/ent/user"
	"authz-gateway/reqctx"
)

// EnsureRoles creates the default roles that are missing. It runs on every
// start and changes nothing that exists: role permission sets edited at run
// time are kept. Nobody holds a role that did not exist, so no answer changes.
func (d *DB) EnsureRoles(ctx context.Context) error {
	ctx = reqctx.NewContextWithSystem(ctx)
	var err error
	// Instances starting together on an empty database race to create the
	// roles: the loser's insert violates the unique type, and its next try
	// finds them.
	for range 3 {
		err = d.inTx(ctx, func(tx *ent.Tx) error {
			_, err := ensureRoles(ctx, tx)
			return err
		})
		if !ent.IsConstraintError(err) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("ensure roles: %w", err)
	}
	return nil
}

// GrantAdmin makes the user with email an admin inside tx: created or
// reactivated, with an active ADMIN role and an active GLOBAL scope. The
// authz service calls it, only when no admin exists (docs/design.md, section 6).
func GrantAdmin(ctx context.Context, tx *ent.Tx, email string) (*ent.User, error) {
	roles, err := ensureRoles(ctx, tx)
	if err != nil {
		return nil, err
	}
	admin, err := ensureUser(ctx, tx, email, "Administrator")
	if err != nil {
		return nil, err
	}
	if !admin.Active {
		if admin, err = admin.Update().SetActive(true).Save(ctx); err != nil {
			return nil, fmt.Errorf("reactivate %s: %w", email, err)
		}
	}
	if err := ensureRole(ctx, tx, admin.ID, roles[access.RoleAdmin]); err != nil {
		return nil, err
	}
	if err := ensureScope(ctx, tx, admin.ID, access.ScopeGlobal, nil, nil); err != nil {
		return nil, err
	}
	return admin, nil
}

// ensureRoles creates missing roles with their default permissions and
// returns every role's ID by type. (ensureUser, ensureRole and ensureScope
// likewise create, or reactivate, what is missing.)
func ensureRoles(ctx context.Context, tx *ent.Tx) (map[access.RoleType]int, error) {
	ids := make(map[access.RoleType]int, len(access.AllRoleTypes))
	for _, rt := range access.AllRoleTypes {
		r, err := tx.Role.Query().Where(role.TypeEQ(rt)).Only(ctx)
		if ent.IsNotFound(err) {
			r, err = tx.Role.Create().SetType(rt).SetPermissions(access.DefaultPermissions(rt)).Save(ctx)
		}
		if err != nil {
			return nil, fmt.Errorf("role %s: %w", rt, err)
		}
		ids[rt] = r.ID
	}
	return ids, nil
}

func ensureUser(ctx context.Context, tx *ent.Tx, email, name string) (*ent.User, error) {
	u, err := tx.User.Query().Where(user.Email(email)).Only(ctx)
	if ent.IsNotFound(err) {
		u, err = tx.User.Create().SetEmail(email).SetName(name).Save(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("user %s: %w", email, err)
	}
	return u, nil
}

func ensureRole(ctx context.Context, tx *ent.Tx, userID, roleID int) error {
	n, err := tx.RoleAssignment.Update().
		Where(roleassignment.UserID(userID), roleassignment.RoleID(roleID)).
		SetActive(true).
		Save(ctx)
	if err == nil && n == 0 {
		err = tx.RoleAssignment.Create().SetUserID(userID).SetRoleID(roleID).Exec(ctx)
	}
	if err != nil {
		return fmt.Errorf("role assignment of user %d: %w", userID, err)
	}
	return nil
}

func ensureScope(ctx context.Context, tx *ent.Tx, userID int, st access.ScopeType, program, project *int) error {
	q := tx.ScopeAssignment.Update().Where(scopeassignment.UserID(userID), scopeassignment.ScopeTypeEQ(st))
	if program != nil {
		q = q.Where(scopeassignment.ProgramID(*program))
	}
	if project != nil {
		q = q.Where(scopeassignment.ProjectID(*project))
	}
	n, err := q.SetActive(true).Save(ctx)
	if err == nil && n == 0 {
		err = tx.ScopeAssignment.Create().
			SetUserID(userID).SetScopeType(st).
			SetNillableProgramID(program).SetNillableProjectID(project).
			Exec(ctx)
	}
	if err != nil {
		return fmt.Errorf("%s scope of user %d: %w", st, userID, err)
	}
	return nil
}

func (d *DB) inTx(ctx context.Context, fn func(tx *ent.Tx) error) error {
	tx, err := d.Client.Tx(ctx)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}
