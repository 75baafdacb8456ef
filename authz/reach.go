package authz

import (
	"context"
	"slices"

	"authz-gateway/access"
	"authz-gateway/apperr"
)

// reachKinds are the four authorization answers a reach is built from.
var reachKinds = []Kind{KindPermissions, KindAccessiblePrograms, KindAccessibleProjects, KindScopeSummary}

// IsReachKind reports whether kind is one of a user's four reach answers.
func IsReachKind(kind Kind) bool { return slices.Contains(reachKinds, kind) }

// ReachKeys are the keys of a user's four authorization answers.
func ReachKeys(userID int) []Key { return keysOf(userID, reachKinds) }

// viewerKeys are the keys a request fetches for its viewer, in one round
// trip: the four answers and the user's status (authentication).
func viewerKeys(userID int) []Key { return keysOf(userID, append(slices.Clip(reachKinds), KindUser)) }

func keysOf(userID int, kinds []Kind) []Key {
	keys := make([]Key, len(kinds))
	for i, kind := range kinds {
		keys[i] = Key{Kind: kind, UserID: userID}
	}
	return keys
}

// ReachFromAnswers assembles a reach from the answers of ReachKeys(userID).
func ReachFromAnswers(userID int, answers map[Key]Answer) access.Reach {
	at := func(kind Kind) Answer { return answers[Key{Kind: kind, UserID: userID}] }
	summary := at(KindScopeSummary).Summary
	return access.Reach{
		Permissions:    at(KindPermissions).Permissions,
		Global:         summary.HasGlobalScope,
		Programs:       at(KindAccessiblePrograms).IDs,
		Projects:       at(KindAccessibleProjects).IDs,
		ScopedPrograms: scopedTargets(summary.DirectScopes, func(d DirectScope) *int { return d.ProgramID }),
		ScopedProjects: scopedTargets(summary.DirectScopes, func(d DirectScope) *int { return d.ProjectID }),
	}
}

// scopedTargets are the programs (or projects) the direct scopes name,
// ascending.
func scopedTargets(direct []DirectScope, target func(DirectScope) *int) []int {
	var ids []int
	for _, d := range direct {
		if id := target(d); id != nil {
			ids = append(ids, *id)
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// Reach returns what user userID may do and where, in one cache round trip.
// (A request's own viewer reads theirs through reqctx.ReachFromContext.)
func (s *Service) Reach(ctx context.Context, userID int) (access.Reach, error) {
	answers, err := s.Answers(ctx, ReachKeys(userID))
	if err != nil {
		return access.Reach{}, err
	}
	return ReachFromAnswers(userID, answers), nil
}

// Require returns the viewer's reach if the viewer holds p, FORBIDDEN naming p
// otherwise (UNAUTHENTICATED without a viewer). Every write is gated by it.
func (s *Service) Require(ctx context.Context, p access.Permission) (access.Reach, error) {
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

// programWritable and projectWritable check write reach: an object out of it
// is NOT_FOUND if the viewer cannot read it either, FORBIDDEN if they can
// (a PROJECT scope shows its parent program but gives no write on it).
func programWritable(id int) func(access.Reach) error {
	return func(reach access.Reach) error {
		switch {
		case reach.WritesProgram(id):
			return nil
		case reach.CanReadProgram(id):
			return apperr.Errorf(apperr.Forbidden, "program %d is outside your write reach (it needs a GLOBAL scope or a PROGRAM scope on it)", id)
		}
		return errOutOfScope("program")
	}
}

func projectWritable(id int) func(access.Reach) error {
	return func(reach access.Reach) error {
		if !reach.WritesProject(id) {
			return errOutOfScope("project")
		}
		return nil
	}
}

// all passes when every check passes.
func all(checks ...func(access.Reach) error) func(access.Reach) error {
	return func(reach access.Reach) error {
		for _, check := range checks {
			if err := check(reach); err != nil {
				return err
			}
		}
		return nil
	}
}
