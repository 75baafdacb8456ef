package authz

import (
	"context"
	"fmt"

	"authz-gateway/access"
	"authz-gateway/apperr"
	"authz-gateway/db"
	"authz-gateway/ent"
	"authz-gateway/ent/role"
	"authz-gateway/ent/roleassignment"
	"authz-gateway/ent/scopeassignment"
	"authz-gateway/ent/user"
)

// BootstrapAdmin runs at every start. Only when no admin exists (no active
// user with an active ADMIN role and an active GLOBAL scope) does it make the
// user with email one (created or reactivated) and return them; while an
// admin exists it grants nobody anything and returns nil, so taking over
// ADMIN_EMAIL gains nothing. Like every write, it commits and then
// invalidates the user it touched.
func (s *Service) BootstrapAdmin(ctx context.Context, email string) (*ent.User, error) {
	var granted *ent.User
	err := s.mutate(ctx, func(ctx context.Context, tx *ent.Tx) (impact, error) {
		if _, err := s.lockRole(ctx, tx, access.RoleAdmin); err != nil {
			return impact{}, err // instances starting together take turns
		}
		exists, err := adminExists(ctx, tx.Client())
		if err != nil || exists {
			return impact{}, err
		}
		granted, err = db.GrantAdmin(ctx, tx, NormalizeEmail(email))
		if err != nil {
			return impact{}, err
		}
		return impact{users: []int{granted.ID}}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("bootstrap admin: %w", err)
	}
	if granted == nil {
		return nil, nil
	}
	return granted.Unwrap(), nil
}

// adminExists reports whether an active user holds an active ADMIN role and
// an active GLOBAL scope.
func adminExists(ctx context.Context, client *ent.Client) (bool, error) {
	return client.User.Query().Where(
		user.Active(true),
		user.HasRoleAssignmentsWith(roleassignment.Active(true), roleassignment.HasRoleWith(role.TypeEQ(access.RoleAdmin))),
		user.HasScopeAssignmentsWith(scopeassignment.Active(true), scopeassignment.ScopeTypeEQ(access.ScopeGlobal)),
	).Exist(ctx)
}

// keepAnAdmin guards the last admin around a change that can take one away
// (deactivating a user, removing or deactivating an ADMIN role or a GLOBAL
// scope): it locks the ADMIN role first, so such changes take turns, and
// refuses the change if afterwards no admin is left.
func (s *Service) keepAnAdmin(change func(ctx context.Context, tx *ent.Tx) (impact, error)) func(ctx context.Context, tx *ent.Tx) (impact, error) {
	return func(ctx context.Context, tx *ent.Tx) (impact, error) {
		if _, err := s.lockRole(ctx, tx, access.RoleAdmin); err != nil {
			return impact{}, err
		}
		imp, err := change(ctx, tx)
		if err != nil {
			return impact{}, err
		}
		exists, err := adminExists(ctx, tx.Client())
		if err != nil {
			return impact{}, dbError(err, "admins")
		}
		if !exists {
			return impact{}, apperr.Errorf(apperr.Forbidden,
				"this would leave no admin (an active user with an active ADMIN role and an active GLOBAL scope)")
		}
		return imp, nil
	}
}
