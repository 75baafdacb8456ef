package authz

import (
	"authz-gateway/answers"
	"authz-gateway/freshness"
	"context"
	"fmt"

	"authz-gateway/access"
	"authz-gateway/ent"
	"authz-gateway/ent/user"
	"authz-gateway/reqctx"
)

// InvalidateUserCache drops every cached answer about a user, on every
// instance. Needs CACHE_MANAGE.
func (s *Service) InvalidateUserCache(ctx context.Context, userID int) error {
	if _, err := s.Require(ctx, access.CacheManage); err != nil {
		return err
	}
	// Logged and delivered like every change; freshness holds even if the
	// store is unreachable, so a store error is not the caller's failure.
	return s.mutate(ctx, "invalidateUserCache", func(context.Context, *ent.Tx) (freshness.Change, error) {
		return freshness.Change{Users: []int{userID}, Target: fmt.Sprintf("user %d", userID)}, nil
	})
}

// InvalidateAllCaches drops every cached answer with one store command. Needs
// CACHE_MANAGE.
func (s *Service) InvalidateAllCaches(ctx context.Context) error {
	if _, err := s.Require(ctx, access.CacheManage); err != nil {
		return err
	}
	return s.mutate(ctx, "invalidateAllCaches", func(context.Context, *ent.Tx) (freshness.Change, error) {
		return freshness.Change{All: true, Target: "every user"}, nil
	})
}

// RefreshUserCache invalidates a user and recomputes all four answers now,
// returning the fresh scope summary. Needs CACHE_MANAGE.
func (s *Service) RefreshUserCache(ctx context.Context, userID int) (answers.ScopeSummary, error) {
	if err := s.InvalidateUserCache(ctx, userID); err != nil {
		return answers.ScopeSummary{}, err
	}
	system := reqctx.NewContextWithSystem(ctx)
	if err := mustExist(system, s.db.User.Query().Where(user.ID(userID)).Exist, "user"); err != nil {
		return answers.ScopeSummary{}, err
	}
	got, err := s.answers.Answers(ctx, answers.ReachKeys(userID))
	if err != nil {
		return answers.ScopeSummary{}, err
	}
	return got[answers.Key{Kind: answers.KindScopeSummary, UserID: userID}].Summary, nil
}
