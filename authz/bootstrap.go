package authz

import (
	"authz-gateway/freshness"
	"context"
	"fmt"

	"authz-gateway/access"
	"authz-gateway/apperr"
	"authz-gateway/auth"
	"authz-gateway/ent"
	"authz-gateway/ent/role"
	"authz-gateway/ent/roleassignment"
	"authz-gateway/ent/scopeassignment"
	"authz-gateway/ent/user"
	"authz-gateway/reqctx"
)

// BootstrapAdmin runs at every start. Only when no admin exists (no active
// user with an active ADMIN role and an active GLOBAL scope) does it make the
// user with email one (created or reactivated) and return them; while an
// admin exists it grants nobody anything and returns nil, so taking over
// ADMIN_EMAIL gains nothing. Like every write, it commits and then
// invalidates the user it touched; a start with nothing to do writes
// nothing (no log entry either). grant makes the rows (db.GrantAdmin: the
// database package owns seeding; the service decides when, under the lock).
func (s *Service) BootstrapAdmin(ctx context.Context, email string, grant GrantFunc) (*ent.User, error) {
	if done, err := s.adminInPlace(ctx); err != nil || done {
		return nil, err
	}
	var granted *ent.User
	err := s.mutate(ctx, "bootstrapAdmin", func(ctx context.Context, tx *ent.Tx) (freshness.Change, error) {
		adminRole, err := s.lockRole(ctx, tx, access.RoleAdmin)
		if err != nil {
			return freshness.Change{}, err // instances starting together take turns
		}
		upgraded, err := adminHoldsAll(ctx, tx, adminRole)
		if err != nil {
			return freshness.Change{}, err
		}
		exists, err := adminExists(ctx, tx.Client())
		if err != nil {
			return freshness.Change{}, err
		}
		if exists {
			upgraded.Target = "no grant: an admin exists"
			return upgraded, nil
		}
		granted, err = grant(ctx, tx, auth.NormalizeEmail(email))
		if err != nil {
			return freshness.Change{}, err
		}
		upgraded.Users = append(upgraded.Users, granted.ID)
		upgraded.Target = fmt.Sprintf("user %d (%s): ADMIN role and GLOBAL scope", granted.ID, granted.Email)
		return upgraded, nil
	})
	if err != nil {
		return nil, fmt.Errorf("bootstrap admin: %w", err)
	}
	if granted == nil {
		return nil, nil
	}
	return granted.Unwrap(), nil
}

// GrantFunc makes the user with email an admin inside tx (created or
// reactivated, with an active ADMIN role and an active GLOBAL scope).
type GrantFunc func(ctx context.Context, tx *ent.Tx, email string) (*ent.User, error)

// adminInPlace reports, without writing, whether the bootstrap has nothing
// to do: an admin exists and the ADMIN role holds every permission. (When
// it says no, the bootstrap decides again under the ADMIN role's lock.)
func (s *Service) adminInPlace(ctx context.Context) (bool, error) {
	ctx = reqctx.NewContextWithSystem(ctx)
	adminRole, err := s.db.Role.Query().Where(role.TypeEQ(access.RoleAdmin)).Only(ctx)
	if err != nil {
		return false, fmt.Errorf("bootstrap admin: %w", err)
	}
	if len(adminRole.Permissions) != len(access.AllPermissions) {
		return false, nil
	}
	exists, err := adminExists(ctx, s.db)
	if err != nil {
		return false, fmt.Errorf("bootstrap admin: %w", err)
	}
	return exists, nil
}

// adminExists reports whether an active user holds an active ADMIN role and
// an active GLOBAL scope, neither with an end: an admin who lapses on their
// own does not keep the gateway manageable.
func adminExists(ctx context.Context, client *ent.Client) (bool, error) {
	return client.User.Query().Where(
		user.Active(true),
		user.HasRoleAssignmentsWith(roleassignment.Active(true), roleassignment.ExpiresAtIsNil(),
			roleassignment.HasRoleWith(role.TypeEQ(access.RoleAdmin))),
		user.HasScopeAssignmentsWith(scopeassignment.Active(true), scopeassignment.ExpiresAtIsNil(),
			scopeassignment.ScopeTypeEQ(access.ScopeGlobal)),
	).Exist(ctx)
}

// keepAnAdmin guards the last admin around a change that can take one away
// (deactivating a user, removing or deactivating an ADMIN role or a GLOBAL
// scope): it locks the ADMIN role first, so such changes take turns, and
// refuses the change if afterwards no admin is left.
func (s *Service) keepAnAdmin(change func(ctx context.Context, tx *ent.Tx) (freshness.Change, error)) func(ctx context.Context, tx *ent.Tx) (freshness.Change, error) {
	return func(ctx context.Context, tx *ent.Tx) (freshness.Change, error) {
		if _, err := s.lockRole(ctx, tx, access.RoleAdmin); err != nil {
			return freshness.Change{}, err
		}
		imp, err := change(ctx, tx)
		if err != nil {
			return freshness.Change{}, err
		}
		exists, err := adminExists(ctx, tx.Client())
		if err != nil {
			return freshness.Change{}, dbError(err, "admins")
		}
		if !exists {
			return freshness.Change{}, apperr.Errorf(apperr.Forbidden,
				"this would leave no admin (an active user with an active ADMIN role and an active GLOBAL scope, neither with an end)")
		}
		return imp, nil
	}
}

// adminHoldsAll gives the ADMIN role every permission if it lacks any (a
// permission added in a newer version, such as AUDIT_READ) and returns the
// role's holders (users and teams), whose answers change.
func adminHoldsAll(ctx context.Context, tx *ent.Tx, admin *ent.Role) (freshness.Change, error) {
	if len(admin.Permissions) == len(access.AllPermissions) {
		return freshness.Change{}, nil
	}
	if err := admin.Update().SetPermissions(access.AllPermissions).Exec(ctx); err != nil {
		return freshness.Change{}, dbError(err, "role ADMIN")
	}
	return roleHolders(ctx, tx, admin.ID)
}
