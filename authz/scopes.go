package authz

import (
	"authz-gateway/freshness"
	"context"
	"fmt"
	"time"

	"authz-gateway/access"
	"authz-gateway/apperr"
	"authz-gateway/ent"
	"authz-gateway/ent/predicate"
	"authz-gateway/ent/project"
	"authz-gateway/ent/scopeassignment"
)

// ScopeInput asks for a scope: GLOBAL names no target, PROGRAM a program,
// PROJECT a project. Its holder is a user (UserID) or a team (TeamID):
// exactly one of them is non-zero.
type ScopeInput struct {
	UserID    int
	TeamID    int
	ScopeType access.ScopeType
	ProgramID *int
	ProjectID *int
	// ExpiresAt ends the scope on its own (nil: never); assigning an
	// existing scope again sets its end anew.
	ExpiresAt *time.Time
}

// AssignScope gives a user a scope, or reactivates an identical existing one.
// Needs SCOPE_MANAGE and the target in the viewer's write reach (a GLOBAL
// scope only from a GLOBAL viewer, a PROGRAM scope only from GLOBAL or that
// PROGRAM), so nobody can hand out more than they hold.
func (s *Service) AssignScope(ctx context.Context, in ScopeInput) (*ent.ScopeAssignment, error) {
	out, err := s.BulkAssignScopes(ctx, []ScopeInput{in})
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// BulkAssignScopes assigns every scope in one transaction: all or nothing, then
// one invalidation for all the users involved. An error names the input.
func (s *Service) BulkAssignScopes(ctx context.Context, ins []ScopeInput) ([]*ent.ScopeAssignment, error) {
	reach, err := s.Require(ctx, access.ScopeManage)
	if err != nil {
		return nil, err
	}
	if len(ins) > MaxBulkScopes {
		return nil, badInput("at most %d scopes per call", MaxBulkScopes)
	}
	endsGlobal := false
	for i, in := range ins {
		if (in.UserID == 0) == (in.TeamID == 0) {
			return nil, inputAt("inputs", len(ins), i, badInput("a scope is held by a user or a team: give exactly one of userId and teamId"))
		}
		if err := checkScopeInput(reach, in); err != nil {
			return nil, inputAt("inputs", len(ins), i, err)
		}
		end, err := checkEnd(in.ExpiresAt)
		if err != nil {
			return nil, inputAt("inputs", len(ins), i, err)
		}
		ins[i].ExpiresAt = end
		endsGlobal = endsGlobal || (end != nil && in.ScopeType == access.ScopeGlobal)
	}
	out := make([]*ent.ScopeAssignment, len(ins))
	change := func(ctx context.Context, tx *ent.Tx) (freshness.Change, error) {
		var imp affected
		grants, err := loadAuthorGrants(ctx, tx)
		if err != nil {
			return freshness.Change{}, err
		}
		for i, in := range ins {
			sa, err := assignScope(ctx, tx, grants, in)
			if err != nil {
				return freshness.Change{}, inputAt("inputs", len(ins), i, err)
			}
			out[i] = sa
			imp.add(in.UserID, in.TeamID)
		}
		c := imp.change()
		c.Target, c.On = describeScopes(out)
		return c, nil
	}
	if endsGlobal {
		// An admin's GLOBAL scope with an end would end the admin.
		change = s.keepAnAdmin(change)
	}
	if err := s.mutateRetryingConflicts(ctx, "assignScope", change); err != nil {
		return nil, err
	}
	for i := range out {
		out[i] = out[i].Unwrap()
		if out[i].ExpiresAt != nil {
			s.log.WakeExpiry() // it may end before the watcher's next look
		}
	}
	return out, nil
}

// mutateRetryingConflicts is mutate for find-or-create writes: when a
// concurrent writer created the same row between our find and our create,
// the unique index refuses ours and the write runs again, now finding the
// row (assigning is idempotent). SQLite serializes writers, so only
// PostgreSQL ever retries.
func (s *Service) mutateRetryingConflicts(ctx context.Context, op string, change func(ctx context.Context, tx *ent.Tx) (freshness.Change, error)) error {
	const attempts = 3
	var err error
	for range attempts {
		if err = s.mutate(ctx, op, change); !ent.IsConstraintError(err) {
			return err
		}
	}
	return err
}

// MaxBulkScopes bounds one bulkAssignScopes call.
const MaxBulkScopes = 1000

func checkScopeInput(reach access.Reach, in ScopeInput) error {
	if err := in.ScopeType.CheckTarget(in.ProgramID != nil, in.ProjectID != nil); err != nil {
		return apperr.Wrap(apperr.BadUserInput, err, "invalid scope: "+err.Error())
	}
	switch {
	case in.ScopeType == access.ScopeGlobal && !reach.Global:
		return apperr.Errorf(apperr.Forbidden, "granting a GLOBAL scope needs a GLOBAL scope")
	case in.ProgramID != nil:
		return programWritable(*in.ProgramID)(reach)
	case in.ProjectID != nil:
		return projectWritable(*in.ProjectID)(reach)
	}
	return nil
}

func assignScope(ctx context.Context, tx *ent.Tx, grants *authorGrants, in ScopeInput) (*ent.ScopeAssignment, error) {
	if err := holderExists(ctx, tx, in.UserID, in.TeamID); err != nil {
		return nil, err
	}
	if in.ProgramID != nil {
		if err := programExists(ctx, tx, *in.ProgramID); err != nil {
			return nil, err
		}
	}
	if in.ProjectID != nil {
		if err := mustExist(ctx, tx.Project.Query().Where(project.ID(*in.ProjectID)).Exist, "project"); err != nil {
			return nil, err
		}
	}
	if err := checkScopeEnd(ctx, tx, grants, in, in.ExpiresAt); err != nil {
		return nil, err
	}
	existing, err := tx.ScopeAssignment.Query().Where(sameScope(in)...).First(ctx)
	switch {
	case err == nil:
		sa, err := newEnd(existing.Update().SetActive(true), in.ExpiresAt).Save(ctx)
		return sa, dbError(err, "scope assignment")
	case !ent.IsNotFound(err):
		return nil, dbError(err, "scope assignment")
	}
	sa, err := tx.ScopeAssignment.Create().
		SetNillableUserID(nonZero(in.UserID)).
		SetNillableTeamID(nonZero(in.TeamID)).
		SetScopeType(in.ScopeType).
		SetNillableProgramID(in.ProgramID).
		SetNillableProjectID(in.ProjectID).
		SetNillableExpiresAt(in.ExpiresAt).
		Save(ctx)
	return sa, dbError(err, "scope assignment")
}

// checkScopeEnd refuses a scope in that would end at end (nil: never)
// later than the author's own grants that allow it.
func checkScopeEnd(ctx context.Context, tx *ent.Tx, grants *authorGrants, in ScopeInput, end *time.Time) error {
	b, err := grants.scopeBound(ctx, tx, in)
	if err != nil {
		return err
	}
	return b.check(end, "a "+string(in.ScopeType)+" scope")
}

// sameScope matches an assignment of the same holder, type and target, so
// that assigning twice reactivates instead of duplicating.
func sameScope(in ScopeInput) []predicate.ScopeAssignment {
	holder := scopeassignment.UserID(in.UserID)
	if in.TeamID != 0 {
		holder = scopeassignment.TeamID(in.TeamID)
	}
	preds := []predicate.ScopeAssignment{
		holder,
		scopeassignment.ScopeTypeEQ(in.ScopeType),
		scopeassignment.ProgramIDIsNil(),
		scopeassignment.ProjectIDIsNil(),
	}
	if in.ProgramID != nil {
		preds[2] = scopeassignment.ProgramID(*in.ProgramID)
	}
	if in.ProjectID != nil {
		preds[3] = scopeassignment.ProjectID(*in.ProjectID)
	}
	return preds
}

// RemoveScope deletes a scope assignment. Needs SCOPE_MANAGE and its target in
// the viewer's scope.
func (s *Service) RemoveScope(ctx context.Context, id int) (bool, error) {
	err := s.changeScope(ctx, "removeScope", id, takesAway, func(ctx context.Context, tx *ent.Tx, sa *ent.ScopeAssignment) error {
		return dbError(tx.ScopeAssignment.DeleteOne(sa).Exec(ctx), "scope assignment")
	})
	return err == nil, err
}

// SetScopeActive reactivates a scope assignment (active) or keeps it but
// stops it from counting.
func (s *Service) SetScopeActive(ctx context.Context, id int, active bool) (*ent.ScopeAssignment, error) {
	op, effect := "deactivateScope", takesAway
	if active {
		op, effect = "activateScope", onlyGrants
	}
	var result *ent.ScopeAssignment
	err := s.changeScope(ctx, op, id, effect, func(ctx context.Context, tx *ent.Tx, sa *ent.ScopeAssignment) error {
		if active {
			// Reactivating confers the scope until its end: no later than
			// the author's own.
			grants, err := loadAuthorGrants(ctx, tx)
			if err != nil {
				return err
			}
			if err := checkScopeEnd(ctx, tx, grants, scopeInputOf(sa), sa.ExpiresAt); err != nil {
				return err
			}
		}
		var err error
		result, err = tx.ScopeAssignment.UpdateOne(sa).SetActive(active).Save(ctx)
		return dbError(err, "scope assignment")
	})
	if err != nil {
		return nil, err
	}
	return result.Unwrap(), nil
}

// scopeEffect says whether a change of a scope assignment can take access
// away (then it must keep the last admin) or only grant it.
type scopeEffect int

const (
	onlyGrants scopeEffect = iota
	takesAway
)

// changeScope loads a scope assignment, checks the viewer may manage it, and
// applies change; the assignment's user is invalidated after commit. A scope
// out of the viewer's write reach is NOT_FOUND like a missing one, saying no
// more about it. A change that takes access away keeps the last admin.
func (s *Service) changeScope(ctx context.Context, op string, id int, effect scopeEffect, change func(context.Context, *ent.Tx, *ent.ScopeAssignment) error) error {
	reach, err := s.Require(ctx, access.ScopeManage)
	if err != nil {
		return err
	}
	apply := func(ctx context.Context, tx *ent.Tx) (freshness.Change, error) {
		sa, err := tx.ScopeAssignment.Get(ctx, id)
		if err != nil {
			return freshness.Change{}, dbError(err, "scope assignment")
		}
		if err := checkScopeInput(reach, scopeInputOf(sa)); err != nil {
			return freshness.Change{}, errOutOfScope("scope assignment")
		}
		c := heldBy(deref(sa.UserID), deref(sa.TeamID)).change()
		c.Target, c.On = describeScopes([]*ent.ScopeAssignment{sa})
		return c, change(ctx, tx, sa)
	}
	if effect == takesAway {
		apply = s.keepAnAdmin(apply)
	}
	return s.mutate(ctx, op, apply)
}

// inputAt prefixes an error with the argument list and index of the input
// that caused it ("checks[3]: ..."), when there is more than one input.
func inputAt(list string, n, i int, err error) error {
	if n == 1 {
		return err
	}
	code := apperr.CodeOf(err)
	if code == apperr.Internal {
		return fmt.Errorf("%s[%d]: %w", list, i, err)
	}
	return apperr.Wrap(code, err, fmt.Sprintf("%s[%d]: %s", list, i, apperr.MessageOf(err)))
}

// describeScopes names scope assignments for the log, and the object a
// viewer must reach to read the entry (several assignments: GLOBAL only).
func describeScopes(sas []*ent.ScopeAssignment) (string, freshness.Scope) {
	if len(sas) != 1 {
		return fmt.Sprintf("%d scope assignments", len(sas)), freshness.Scope{}
	}
	sa := sas[0]
	holder := holderName(sa.UserID, sa.TeamID)
	switch {
	case sa.ProgramID != nil:
		return fmt.Sprintf("scope assignment %d: %s, PROGRAM %d", sa.ID, holder, *sa.ProgramID), onProgram(*sa.ProgramID)
	case sa.ProjectID != nil:
		return fmt.Sprintf("scope assignment %d: %s, PROJECT %d", sa.ID, holder, *sa.ProjectID), onProject(*sa.ProjectID)
	}
	return fmt.Sprintf("scope assignment %d: %s, GLOBAL", sa.ID, holder), freshness.Scope{}
}

// scopeInputOf is the input that would assign sa again.
func scopeInputOf(sa *ent.ScopeAssignment) ScopeInput {
	return ScopeInput{UserID: deref(sa.UserID), TeamID: deref(sa.TeamID), ScopeType: sa.ScopeType, ProgramID: sa.ProgramID, ProjectID: sa.ProjectID}
}
