package authz

import (
	"context"
	"slices"
	"time"

	"authz-gateway/access"
	"authz-gateway/answers"
	"authz-gateway/apperr"
	"authz-gateway/ent"
	"authz-gateway/ent/predicate"
	"authz-gateway/ent/project"
	"authz-gateway/ent/roleassignment"
	"authz-gateway/ent/scopeassignment"
	"authz-gateway/ent/teammembership"
	"authz-gateway/reqctx"
)

// authorGrants are the viewer's own live grants, read in the write's
// transaction: what bounds how long anything they grant may last. No write
// confers more than its author holds, nor for longer: a grant may not end
// later than the author's own grant that allows it (no end only from
// grants with no end), whether it is created, assigned again or
// reactivated.
type authorGrants struct {
	roles  []*ent.RoleAssignment // with their roles
	scopes []*ent.ScopeAssignment
}

// loadAuthorGrants reads the viewer's active, not ended grants. The
// gateway acting for itself (no viewer) is bound by nothing.
func loadAuthorGrants(ctx context.Context, tx *ent.Tx) (*authorGrants, error) {
	v, ok := reqctx.ViewerFromContext(ctx)
	if !ok {
		return nil, nil
	}
	return liveGrants(ctx, tx.Client(), v.UserID)
}

// liveGrants reads user's active, not ended role assignments (with their
// roles) and scope assignments in db (a transaction's client), as the
// gateway: all of them, their own and those of the teams they are an
// active member of (as the member holds them: until the membership's end
// or the grant's, whichever is earlier; the teams' in two statements
// however many teams), whatever the read rules would show the viewer, and
// whether the user is active or not.
func liveGrants(ctx context.Context, db *ent.Client, user int) (*authorGrants, error) {
	ctx = reqctx.NewContextWithSystem(ctx)
	roles, err := db.RoleAssignment.Query().
		Where(roleassignment.UserID(user), roleassignment.Active(true), predicate.RoleAssignment(answers.NotEnded)).
		WithRole().All(ctx)
	if err != nil {
		return nil, dbError(err, "role assignments")
	}
	scopes, err := db.ScopeAssignment.Query().
		Where(scopeassignment.UserID(user), scopeassignment.Active(true), predicate.ScopeAssignment(answers.NotEnded)).
		All(ctx)
	if err != nil {
		return nil, dbError(err, "scope assignments")
	}
	memberships, err := db.TeamMembership.Query().
		Where(teammembership.UserID(user), teammembership.Active(true), predicate.TeamMembership(answers.NotEnded)).
		All(ctx)
	if err != nil {
		return nil, dbError(err, "team memberships")
	}
	until := make(map[int]*time.Time, len(memberships)) // each team's membership end
	teams := make([]int, len(memberships))
	for i, m := range memberships {
		teams[i], until[m.TeamID] = m.TeamID, m.ExpiresAt
	}
	teamRoles, teamScopes, err := teamGrants(ctx, db, teams...)
	if err != nil {
		return nil, err
	}
	for _, ra := range teamRoles {
		held := *ra
		held.ExpiresAt = earlier(until[*ra.TeamID], ra.ExpiresAt)
		roles = append(roles, &held)
	}
	for _, sa := range teamScopes {
		held := *sa
		held.ExpiresAt = earlier(until[*sa.TeamID], sa.ExpiresAt)
		scopes = append(scopes, &held)
	}
	return &authorGrants{roles: roles, scopes: scopes}, nil
}

// bound is the latest instant a grant may end at: nil is no bound (the
// author's allowing grants have no end); held is false when the author
// holds nothing that allows it (the permission checks refuse that before).
type bound struct {
	end  *time.Time
	held bool
}

var unbounded = bound{held: true}

// later of two ends, nil being never.
func later(a, b *time.Time) *time.Time {
	if a == nil || b == nil {
		return nil
	}
	if b.After(*a) {
		return b
	}
	return a
}

// or is the bound of holding b or another grant ending at end (nil:
// never): the later end.
func (b bound) or(end *time.Time) bound {
	if !b.held {
		return bound{end: end, held: true}
	}
	return bound{end: later(b.end, end), held: true}
}

// and is the bound of needing both: the earlier end.
func (b bound) and(o bound) bound {
	switch {
	case !b.held || !o.held:
		return bound{}
	case b.end == nil:
		return o
	case o.end == nil || b.end.Before(*o.end):
		return b
	}
	return o
}

// permission is how long the author holds p: the latest end among their
// roles that give it.
func (g *authorGrants) permission(p access.Permission) bound {
	var b bound
	for _, ra := range g.roles {
		if ra.Edges.Role != nil && slices.Contains(ra.Edges.Role.Permissions, p) {
			b = b.or(ra.ExpiresAt)
		}
	}
	return b
}

// scope is how long the author holds a scope that covers target (GLOBAL
// covers everything; a PROGRAM scope its program and, when programOf
// names it, that program's projects; a PROJECT scope its project).
func (g *authorGrants) scope(target ScopeInput, programOf *int) bound {
	var b bound
	for _, sa := range g.scopes {
		covers := sa.ScopeType == access.ScopeGlobal
		switch {
		case sa.ProgramID != nil && target.ProgramID != nil:
			covers = covers || *sa.ProgramID == *target.ProgramID
		case sa.ProgramID != nil && programOf != nil:
			covers = covers || *sa.ProgramID == *programOf
		case sa.ProjectID != nil && target.ProjectID != nil:
			covers = covers || *sa.ProjectID == *target.ProjectID
		}
		if covers {
			b = b.or(sa.ExpiresAt)
		}
	}
	return b
}

// roleBound is how long the author may grant a role with perms: as long as
// they hold ROLE_MANAGE, a GLOBAL scope and each of perms.
func (g *authorGrants) roleBound(perms []access.Permission) bound {
	if g == nil {
		return unbounded
	}
	b := g.permission(access.RoleManage).and(g.scope(ScopeInput{ScopeType: access.ScopeGlobal}, nil))
	for _, p := range perms {
		b = b.and(g.permission(p))
	}
	return b
}

// scopeBound is how long the author may grant the scope in: as long as
// they hold SCOPE_MANAGE and a scope that covers its target.
func (g *authorGrants) scopeBound(ctx context.Context, tx *ent.Tx, in ScopeInput) (bound, error) {
	if g == nil {
		return unbounded, nil
	}
	var programOf *int
	if in.ProjectID != nil {
		pid, err := tx.Project.Query().Where(project.ID(*in.ProjectID)).Select(project.FieldProgramID).Int(reqctx.NewContextWithSystem(ctx))
		if err != nil {
			return bound{}, dbError(err, "project")
		}
		programOf = &pid
	}
	return g.permission(access.ScopeManage).and(g.scope(in, programOf)), nil
}

// check refuses a grant ending at end (nil: never) past the bound.
func (b bound) check(end *time.Time, what string) error {
	switch {
	case !b.held:
		return apperr.Errorf(apperr.Forbidden, "you hold no grant that allows %s", what)
	case b.end == nil:
		return nil
	case end == nil:
		return apperr.Errorf(apperr.Forbidden,
			"%s may not outlast your own grant that allows it, which ends at %s: give it an expiresAt no later",
			what, b.end.UTC().Format(time.RFC3339))
	case end.After(*b.end):
		return apperr.Errorf(apperr.Forbidden, "%s may not end after your own grant that allows it, which ends at %s",
			what, b.end.UTC().Format(time.RFC3339))
	}
	return nil
}
