package authz

import (
	"authz-gateway/freshness"
	"context"
	"fmt"
	"slices"

	"authz-gateway/access"
	"authz-gateway/apperr"
	"authz-gateway/auth"
	"authz-gateway/ent"
	"authz-gateway/ent/user"
	"authz-gateway/reqctx"
)

// CreateUser creates a user. Needs USER_MANAGE. Returns BAD_USER_INPUT for an
// invalid or taken email or externalId.
func (s *Service) CreateUser(ctx context.Context, in ent.CreateUserInput) (*ent.User, error) {
	if _, err := s.Require(ctx, access.UserManage); err != nil {
		return nil, err
	}
	if err := cleanTexts(emailText(&in.Email), name(&in.Name)); err != nil {
		return nil, err
	}
	in.Email = auth.NormalizeEmail(in.Email)
	var created *ent.User
	err := s.mutate(ctx, "createUser", func(ctx context.Context, tx *ent.Tx) (freshness.Change, error) {
		if err := checkEmailFree(ctx, tx, in.Email, 0); err != nil {
			return freshness.Change{}, err
		}
		if err := checkExternalIDFree(ctx, tx, in.ExternalID, 0); err != nil {
			return freshness.Change{}, err
		}
		u, err := tx.User.Create().SetInput(in).Save(ctx)
		if err != nil {
			return freshness.Change{}, dbError(err, "user")
		}
		created = u
		// The catalog's size counts the users (the cost limit's bound on
		// lists of users).
		return freshness.Change{Users: append([]int{u.ID}, catalogChanged...), Target: fmt.Sprintf("user %d (%s)", u.ID, u.Email)}, nil
	})
	if err != nil {
		return nil, err
	}
	return created.Unwrap(), nil
}

// UpdateUser changes a user. Needs USER_MANAGE and every permission the user
// holds (nobody changes the email or the activity of someone who can do more
// than they can); the last admin cannot be deactivated. Deactivating (or
// reactivating) a user changes every answer about them, so the user is
// invalidated.
func (s *Service) UpdateUser(ctx context.Context, id int, in ent.UpdateUserInput) (*ent.User, error) {
	reach, err := s.Require(ctx, access.UserManage)
	if err != nil {
		return nil, err
	}
	if err := cleanTexts(emailText(in.Email), name(in.Name)); err != nil {
		return nil, err
	}
	if in.Email != nil {
		email := auth.NormalizeEmail(*in.Email)
		in.Email = &email
	}
	var updated *ent.User
	change := func(ctx context.Context, tx *ent.Tx) (freshness.Change, error) {
		if err := userWithinOwn(ctx, tx, reach, id); err != nil {
			return freshness.Change{}, err
		}
		if in.Email != nil {
			if err := checkEmailFree(ctx, tx, *in.Email, id); err != nil {
				return freshness.Change{}, err
			}
		}
		if err := checkExternalIDFree(ctx, tx, in.ExternalID, id); err != nil {
			return freshness.Change{}, err
		}
		u, err := tx.User.UpdateOneID(id).SetInput(in).Save(ctx)
		updated = u
		return freshness.Change{Users: []int{id}, Target: fmt.Sprintf("user %d", id)}, dbError(err, "user")
	}
	if in.Active != nil && !*in.Active {
		change = s.keepAnAdmin(change)
	}
	if err := s.mutate(ctx, "updateUser", change); err != nil {
		return nil, err
	}
	return updated.Unwrap(), nil
}

// userWithinOwn is FORBIDDEN unless the viewer holds everything user id
// holds: every permission of their active roles, and each of their active
// scopes in the viewer's write reach. Whoever changes a user's email,
// externalId or activity decides who signs in as them, so a narrowly
// scoped USER_MANAGE must not reach a GLOBAL user. Read from the
// assignments themselves, in the write's transaction, so a deactivated
// user (whose answers are empty) is judged by what reactivating them
// would restore.
func userWithinOwn(ctx context.Context, tx *ent.Tx, reach access.Reach, id int) error {
	if err := userExists(reqctx.NewContextWithSystem(ctx), tx, id); err != nil {
		return err
	}
	theirs, err := liveGrants(ctx, tx.Client(), id)
	if err != nil {
		return err
	}
	var perms []access.Permission
	for _, ra := range theirs.roles {
		perms = append(perms, ra.Edges.Role.Permissions...)
	}
	slices.Sort(perms)
	if err := withinOwn(reach, slices.Compact(perms), "this user"); err != nil {
		return err
	}
	for _, sa := range theirs.scopes {
		in := ScopeInput{ScopeType: sa.ScopeType, ProgramID: sa.ProgramID, ProjectID: sa.ProjectID}
		if checkScopeInput(reach, in) != nil {
			return apperr.Errorf(apperr.Forbidden, "this user holds a %s scope beyond your write reach", sa.ScopeType)
		}
	}
	return nil
}

func checkEmailFree(ctx context.Context, tx *ent.Tx, email string, except int) error {
	return mustBeFree(ctx, tx.User.Query().Where(user.Email(email), user.IDNEQ(except)).Exist,
		"user", "a user with email %q already exists", email)
}

// checkExternalIDFree refuses an externalId another user has (nil: none
// asked for). The value is the provider's subject, compared exactly.
func checkExternalIDFree(ctx context.Context, tx *ent.Tx, externalID *string, except int) error {
	if externalID == nil {
		return nil
	}
	if *externalID == "" {
		return badInput("externalId must not be empty (clear it with clearExternalId)")
	}
	return mustBeFree(ctx, tx.User.Query().Where(user.ExternalID(*externalID), user.IDNEQ(except)).Exist,
		"user", "a user with externalId %q already exists", *externalID)
}
