package authz

import (
	"context"

	"authz-gateway/access"
	"authz-gateway/answers"
	"authz-gateway/apperr"
)

// Reach returns what user userID may do and where, in one cache round trip.
// (A request's own viewer reads theirs through reqctx.ReachFromContext.)
func (s *Service) Reach(ctx context.Context, userID int) (access.Reach, error) {
	got, err := s.answers.Answers(ctx, answers.ReachKeys(userID))
	if err != nil {
		return access.Reach{}, err
	}
	return answers.ReachFromAnswers(userID, got), nil
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
