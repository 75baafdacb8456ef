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

// Bootstrap makes sure the default roles and the admin (ADMIN role, GLOBAL
// scope) exist. It runs on every start and changes nothing that exists: role
// permission sets edited at run time are kept. Returns the admin.
func (d *DB) Bootstrap(ctx context.Context, adminEmail string) (*ent.User, error) {
	ctx = reqctx.NewContextWithSystem(ctx)
	var admin *ent.User
	err := d.inTx(ctx, func(tx *ent.Tx) error {
		roles, err := ensureRoles(ctx, tx)
		if err != nil {
			return err
		}
		admin, err = ensureUser(ctx, tx, adminEmail, "Administrator")
		if err != nil {
			return err
		}
		if err := ensureRole(ctx, tx, admin.ID, roles[access.RoleAdmin]); err != nil {
			return err
		}
		return ensureScope(ctx, tx, admin.ID, access.ScopeGlobal, nil, nil)
	})
	if err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	return admin.Unwrap(), nil
}

// ensureRoles creates missing roles with their default permissions and
// returns every role's ID by type.
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
	exists, err := tx.RoleAssignment.Query().
		Where(roleassignment.UserID(userID), roleassignment.RoleID(roleID)).
		Exist(ctx)
	if err == nil && !exists {
		err = tx.RoleAssignment.Create().SetUserID(userID).SetRoleID(roleID).Exec(ctx)
	}
	if err != nil {
		return fmt.Errorf("role assignment of user %d: %w", userID, err)
	}
	return nil
}

func ensureScope(ctx context.Context, tx *ent.Tx, userID int, st access.ScopeType, program, project *int) error {
	q := tx.ScopeAssignment.Query().Where(scopeassignment.UserID(userID), scopeassignment.ScopeTypeEQ(st))
	if program != nil {
		q = q.Where(scopeassignment.ProgramID(*program))
	}
	if project != nil {
		q = q.Where(scopeassignment.ProjectID(*project))
	}
	exists, err := q.Exist(ctx)
	if err == nil && !exists {
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
