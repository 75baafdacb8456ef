package authz

import (
	"context"
	"fmt"
	"strings"

	"authz-gateway/access"
	"authz-gateway/ent"
	"authz-gateway/ent/user"
)

// CreateUser creates a user. Needs USER_MANAGE. Returns BAD_USER_INPUT for an
// invalid or taken email or externalId.
func (s *Service) CreateUser(ctx context.Context, in ent.CreateUserInput) (*ent.User, error) {
	if _, err := s.Require(ctx, access.UserManage); err != nil {
		return nil, err
	}
	if err := cleanTexts(text{field: "email", value: &in.Email}, name(&in.Name)); err != nil {
		return nil, err
	}
	in.Email = NormalizeEmail(in.Email)
	var created *ent.User
	err := s.mutate(ctx, "createUser", func(ctx context.Context, tx *ent.Tx) (impact, error) {
		if err := checkEmailFree(ctx, tx, in.Email, 0); err != nil {
			return impact{}, err
		}
		if err := checkExternalIDFree(ctx, tx, in.ExternalID, 0); err != nil {
			return impact{}, err
		}
		u, err := tx.User.Create().SetInput(in).Save(ctx)
		if err != nil {
			return impact{}, dbError(err, "user")
		}
		created = u
		// The catalog's size counts the users (the cost limit's bound on
		// lists of users).
		return impact{users: append([]int{u.ID}, catalogChanged...), target: fmt.Sprintf("user %d (%s)", u.ID, u.Email)}, nil
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
	if err := cleanTexts(text{field: "email", value: in.Email}, name(in.Name)); err != nil {
		return nil, err
	}
	if in.Email != nil {
		email := NormalizeEmail(*in.Email)
		in.Email = &email
	}
	theirs, err := s.Answer(ctx, Key{Kind: KindPermissions, UserID: id})
	if err != nil {
		return nil, err
	}
	if err := withinOwn(reach, theirs.Permissions, "this user"); err != nil {
		return nil, err
	}
	var updated *ent.User
	change := func(ctx context.Context, tx *ent.Tx) (impact, error) {
		if in.Email != nil {
			if err := checkEmailFree(ctx, tx, *in.Email, id); err != nil {
				return impact{}, err
			}
		}
		if err := checkExternalIDFree(ctx, tx, in.ExternalID, id); err != nil {
			return impact{}, err
		}
		u, err := tx.User.UpdateOneID(id).SetInput(in).Save(ctx)
		updated = u
		return impact{users: []int{id}, target: fmt.Sprintf("user %d", id)}, dbError(err, "user")
	}
	if in.Active != nil && !*in.Active {
		change = s.keepAnAdmin(change)
	}
	if err := s.mutate(ctx, "updateUser", change); err != nil {
		return nil, err
	}
	return updated.Unwrap(), nil
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

// NormalizeEmail trims and lower-cases an email, the form users are stored and
// looked up in.
func NormalizeEmail(email string) string {
	return strings.ToLower(strings.TrimSpace(email))
}
