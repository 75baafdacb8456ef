package authz

import (
	"context"

	"authz-gateway/access"
	"authz-gateway/apperr"
	"authz-gateway/cache"
	"authz-gateway/reqctx"
)

// ReachKeys are the cache keys a viewer's reach is built from.
func ReachKeys(userID int) []cache.Key {
	keys := make([]cache.Key, len(cache.Kinds))
	for i, kind := range cache.Kinds {
		keys[i] = cache.Key{Kind: kind, UserID: userID}
	}
	return keys
}

// ReachFromAnswers assembles a reach from the answers of ReachKeys(userID).
func ReachFromAnswers(userID int, answers map[cache.Key]Answer) access.Reach {
	at := func(kind cache.Kind) Answer { return answers[cache.Key{Kind: kind, UserID: userID}] }
	return access.Reach{
		Permissions: at(cache.Permissions).Permissions,
		Global:      at(cache.ScopeSummary).Summary.HasGlobalScope,
		Programs:    at(cache.AccessiblePrograms).IDs,
		Projects:    at(cache.AccessibleProjects).IDs,
	}
}

// Reach returns what user userID may do and where, in one cache round trip.
func (s *Service) Reach(ctx context.Context, userID int) (access.Reach, error) {
	answers, err := s.Answers(ctx, ReachKeys(userID))
	if err != nil {
		return access.Reach{}, err
	}
	return ReachFromAnswers(userID, answers), nil
}

// viewerReach returns the reach of the request's viewer, resolved afresh
// (through the cache) rather than from the request's loaders, so a mutation
// that follows another in the same operation sees its effect.
func (s *Service) viewerReach(ctx context.Context) (access.Reach, error) {
	v, ok := reqctx.ViewerFromContext(ctx)
	if !ok {
		return access.Reach{}, apperr.Errorf(apperr.Unauthenticated, "authentication required")
	}
	return s.Reach(ctx, v.UserID)
}

// require returns the viewer's reach if the viewer holds p, FORBIDDEN naming p
// otherwise.
func (s *Service) require(ctx context.Context, p access.Permission) (access.Reach, error) {
	reach, err := s.viewerReach(ctx)
	if err != nil {
		return access.Reach{}, err
	}
	if !reach.Can(p) {
		return access.Reach{}, apperr.Errorf(apperr.Forbidden, "missing permission %s", p)
	}
	return reach, nil
}

// errOutOfScope is what a viewer learns about an object outside their scope:
// nothing more than about an object that does not exist.
func errOutOfScope(what string) error {
	return apperr.Errorf(apperr.NotFound, "%s not found", what)
}
