package authz

// Teams (docs/design.md, section 3): a team holds roles and scopes for its
// members. A write that makes someone a member, or that lets the identity
// provider's group decide who is, confers everything the team holds; so
// its author must be able to grant each of the team's live grants directly
// (the same checks as assignRole and assignScope), and for as long (the
// membership's end, or the grant's if earlier, no later than the author's
// own grant that allows it). Taking a team's grants away (deleting it,
// removing a member) needs authority over them too, as changing a user who
// holds more than the viewer does.

import (
	"context"
	"fmt"
	"time"

	"authz-gateway/access"
	"authz-gateway/answers"
	"authz-gateway/apperr"
	"authz-gateway/ent"
	"authz-gateway/ent/predicate"
	"authz-gateway/ent/role"
	"authz-gateway/ent/roleassignment"
	"authz-gateway/ent/scopeassignment"
	"authz-gateway/ent/team"
	"authz-gateway/ent/teammembership"
	"authz-gateway/ent/user"
	"authz-gateway/freshness"
	"authz-gateway/reqctx"
)

// CreateTeam creates a team, holding nothing. Needs USER_MANAGE.
func (s *Service) CreateTeam(ctx context.Context, in ent.CreateTeamInput) (*ent.Team, error) {
	if _, err := s.Require(ctx, access.UserManage); err != nil {
		return nil, err
	}
	if err := cleanTexts(name(&in.Name), description(in.Description), groupText(in.ExternalGroup)); err != nil {
		return nil, err
	}
	var created *ent.Team
	err := s.mutate(ctx, "createTeam", func(ctx context.Context, tx *ent.Tx) (freshness.Change, error) {
		if err := checkTeamFree(ctx, tx, &in.Name, in.ExternalGroup, 0); err != nil {
			return freshness.Change{}, err
		}
		t, err := tx.Team.Create().SetInput(in).Save(ctx)
		if err != nil {
			return freshness.Change{}, dbError(err, "team")
		}
		created = t
		// The catalog's answer lists the groups teams mirror (the
		// sign-in's groups claim is compared with it).
		return freshness.Change{Users: catalogChanged, Target: fmt.Sprintf("team %d", t.ID)}, nil
	})
	if err != nil {
		return nil, err
	}
	return created.Unwrap(), nil
}

// UpdateTeam changes a team's name, description or group. Needs
// USER_MANAGE; a new externalGroup lets the provider's group decide the
// members (with no end), so it confers what the team holds.
func (s *Service) UpdateTeam(ctx context.Context, id int, in ent.UpdateTeamInput) (*ent.Team, error) {
	reach, err := s.Require(ctx, access.UserManage)
	if err != nil {
		return nil, err
	}
	if err := cleanTexts(name(in.Name), description(in.Description), groupText(in.ExternalGroup)); err != nil {
		return nil, err
	}
	var updated *ent.Team
	err = s.mutate(ctx, "updateTeam", func(ctx context.Context, tx *ent.Tx) (freshness.Change, error) {
		t, err := s.lockTeam(ctx, tx, id)
		if err != nil {
			return freshness.Change{}, err
		}
		if err := checkTeamFree(ctx, tx, in.Name, in.ExternalGroup, id); err != nil {
			return freshness.Change{}, err
		}
		change := freshness.Change{Target: fmt.Sprintf("team %d", id)}
		if in.ExternalGroup != nil && (t.ExternalGroup == nil || *t.ExternalGroup != *in.ExternalGroup) {
			if err := s.mayConfer(ctx, tx, reach, id, nil); err != nil {
				return freshness.Change{}, err
			}
		}
		if (in.ExternalGroup != nil || in.ClearExternalGroup) && !sameGroup(t.ExternalGroup, in) {
			// The groups teams mirror (the catalog's answer) and the
			// members' statuses (their teams' groups) change.
			change.Users, change.Teams = catalogChanged, []int{id}
			change.Target = fmt.Sprintf("team %d: group %s", id, groupName(in.ExternalGroup))
		}
		updated, err = tx.Team.UpdateOneID(id).SetInput(in).Save(ctx)
		return change, dbError(err, "team")
	})
	if err != nil {
		return nil, err
	}
	return updated.Unwrap(), nil
}

// DeleteTeam deletes a team with its memberships and grants. Needs
// USER_MANAGE and authority over the team's grants. Its members are
// collected inside the transaction, the team locked: the delete cascades
// to the memberships, so the delivery could not find them.
func (s *Service) DeleteTeam(ctx context.Context, id int) (bool, error) {
	reach, err := s.Require(ctx, access.UserManage)
	if err != nil {
		return false, err
	}
	err = s.mutate(ctx, "deleteTeam", func(ctx context.Context, tx *ent.Tx) (freshness.Change, error) {
		t, err := s.lockTeam(ctx, tx, id)
		if err != nil {
			return freshness.Change{}, err
		}
		if err := s.mayTakeAway(ctx, tx, reach, id); err != nil {
			return freshness.Change{}, err
		}
		members, err := teamMembers(ctx, tx.Client(), []int{id})
		if err != nil {
			return freshness.Change{}, err
		}
		if err := tx.Team.DeleteOneID(id).Exec(ctx); err != nil {
			return freshness.Change{}, dbError(err, "team")
		}
		return freshness.Change{Users: append(members, catalogChanged...), Target: fmt.Sprintf("team %d (%s) deleted", id, t.Name)}, nil
	})
	return err == nil, err
}

// AddTeamMember makes a user a member of a team, or reactivates the
// membership and sets its end anew (nil: none). Needs USER_MANAGE and the
// authority to grant everything the team holds, for as long.
func (s *Service) AddTeamMember(ctx context.Context, teamID, userID int, expiresAt *time.Time) (*ent.TeamMembership, error) {
	reach, err := s.Require(ctx, access.UserManage)
	if err != nil {
		return nil, err
	}
	end, err := checkEnd(expiresAt)
	if err != nil {
		return nil, err
	}
	var result *ent.TeamMembership
	err = s.mutateRetryingConflicts(ctx, "addTeamMember", func(ctx context.Context, tx *ent.Tx) (freshness.Change, error) {
		if _, err := s.lockTeam(ctx, tx, teamID); err != nil {
			return freshness.Change{}, err
		}
		if err := userExists(ctx, tx, userID); err != nil {
			return freshness.Change{}, err
		}
		if err := checkTeamsOfUser(ctx, tx, userID, teamID); err != nil {
			return freshness.Change{}, err
		}
		if err := s.mayConfer(ctx, tx, reach, teamID, end); err != nil {
			return freshness.Change{}, err
		}
		result, err = setMembership(ctx, tx, teamID, userID, end)
		return freshness.Change{Users: []int{userID}, Target: fmt.Sprintf("team %d, member user %d", teamID, userID)}, err
	})
	if err != nil {
		return nil, err
	}
	if end != nil {
		s.log.WakeExpiry() // it may end before the watcher's next look
	}
	return result.Unwrap(), nil
}

// setMembership creates the membership or reactivates it with its end
// anew.
func setMembership(ctx context.Context, tx *ent.Tx, teamID, userID int, end *time.Time) (*ent.TeamMembership, error) {
	existing, err := tx.TeamMembership.Query().
		Where(teammembership.TeamID(teamID), teammembership.UserID(userID)).Only(ctx)
	switch {
	case ent.IsNotFound(err):
		m, err := tx.TeamMembership.Create().SetTeamID(teamID).SetUserID(userID).SetNillableExpiresAt(end).Save(ctx)
		return m, dbError(err, "team membership")
	case err != nil:
		return nil, dbError(err, "team membership")
	}
	m, err := newEnd(existing.Update().SetActive(true), end).Save(ctx)
	return m, dbError(err, "team membership")
}

// RemoveTeamMember ends a membership. Needs USER_MANAGE and authority over
// the team's grants. False when the user was not a member.
func (s *Service) RemoveTeamMember(ctx context.Context, teamID, userID int) (bool, error) {
	reach, err := s.Require(ctx, access.UserManage)
	if err != nil {
		return false, err
	}
	var removed int
	err = s.mutate(ctx, "removeTeamMember", func(ctx context.Context, tx *ent.Tx) (freshness.Change, error) {
		if _, err := s.lockTeam(ctx, tx, teamID); err != nil {
			return freshness.Change{}, err
		}
		if err := s.mayTakeAway(ctx, tx, reach, teamID); err != nil {
			return freshness.Change{}, err
		}
		removed, err = tx.TeamMembership.Delete().
			Where(teammembership.TeamID(teamID), teammembership.UserID(userID)).Exec(ctx)
		return freshness.Change{Users: []int{userID}, Target: fmt.Sprintf("team %d, member user %d removed", teamID, userID)},
			dbError(err, "team membership")
	})
	return removed > 0, err
}

// AssignTeamRole grants a role to a team, or reactivates the grant and sets
// its end anew. The rules of assignRole apply: ROLE_MANAGE, a GLOBAL scope,
// every permission of the role, and no end later than the author's own.
func (s *Service) AssignTeamRole(ctx context.Context, teamID int, rt access.RoleType, expiresAt *time.Time) (*ent.RoleAssignment, error) {
	reach, err := s.requireRoleManagement(ctx)
	if err != nil {
		return nil, err
	}
	end, err := checkEnd(expiresAt)
	if err != nil {
		return nil, err
	}
	var result *ent.RoleAssignment
	err = s.mutateRetryingConflicts(ctx, "assignTeamRole", func(ctx context.Context, tx *ent.Tx) (freshness.Change, error) {
		if _, err := s.lockTeam(ctx, tx, teamID); err != nil {
			return freshness.Change{}, err
		}
		r, err := roleWithinOwn(ctx, tx, reach, rt)
		if err != nil {
			return freshness.Change{}, err
		}
		if err := s.checkRoleEnd(ctx, tx, r, roleChange{active: true, setEnd: true, end: end}, nil); err != nil {
			return freshness.Change{}, err
		}
		existing, err := tx.RoleAssignment.Query().Where(roleassignment.TeamID(teamID), roleassignment.RoleID(r.ID)).Only(ctx)
		switch {
		case ent.IsNotFound(err):
			result, err = tx.RoleAssignment.Create().SetTeamID(teamID).SetRoleID(r.ID).SetNillableExpiresAt(end).Save(ctx)
		case err == nil:
			result, err = newEnd(existing.Update().SetActive(true), end).Save(ctx)
		}
		return freshness.Change{Teams: []int{teamID}, Target: fmt.Sprintf("team %d, role %s", teamID, rt)}, dbError(err, "role assignment")
	})
	if err != nil {
		return nil, err
	}
	if end != nil {
		s.log.WakeExpiry()
	}
	return result.Unwrap(), nil
}

// RemoveTeamRole takes a role from a team. The rules of removeRole apply.
// False when the team did not hold it.
func (s *Service) RemoveTeamRole(ctx context.Context, teamID int, rt access.RoleType) (bool, error) {
	reach, err := s.requireRoleManagement(ctx)
	if err != nil {
		return false, err
	}
	var removed int
	err = s.mutate(ctx, "removeTeamRole", func(ctx context.Context, tx *ent.Tx) (freshness.Change, error) {
		if _, err := s.lockTeam(ctx, tx, teamID); err != nil {
			return freshness.Change{}, err
		}
		r, err := roleWithinOwn(ctx, tx, reach, rt)
		if err != nil {
			return freshness.Change{}, err
		}
		removed, err = tx.RoleAssignment.Delete().Where(roleassignment.TeamID(teamID), roleassignment.RoleID(r.ID)).Exec(ctx)
		return freshness.Change{Teams: []int{teamID}, Target: fmt.Sprintf("team %d, role %s removed", teamID, rt)}, dbError(err, "role assignment")
	})
	return removed > 0, err
}

// lockTeam reads the team, locked for the transaction (PostgreSQL): writes
// of one team's members and grants take turns, so a membership is judged
// against every grant the team holds when it commits, and a deletion
// collects every member. NOT_FOUND when there is none.
func (s *Service) lockTeam(ctx context.Context, tx *ent.Tx, id int) (*ent.Team, error) {
	q := tx.Team.Query().Where(team.ID(id))
	if s.locksRows() {
		q = q.ForUpdate()
	}
	t, err := q.Only(reqctx.NewContextWithSystem(ctx))
	if err != nil {
		return nil, dbError(err, "team")
	}
	return t, nil
}

// teamGrants reads the live grants of teams: active, not ended role
// assignments (with their roles) and scope assignments, in two statements
// however many teams.
func teamGrants(ctx context.Context, db *ent.Client, teamIDs ...int) ([]*ent.RoleAssignment, []*ent.ScopeAssignment, error) {
	if len(teamIDs) == 0 {
		return nil, nil, nil
	}
	ctx = reqctx.NewContextWithSystem(ctx)
	roles, err := db.RoleAssignment.Query().
		Where(roleassignment.TeamIDIn(teamIDs...), roleassignment.Active(true), predicate.RoleAssignment(answers.NotEnded)).
		WithRole().All(ctx)
	if err != nil {
		return nil, nil, dbError(err, "team's roles")
	}
	scopes, err := db.ScopeAssignment.Query().
		Where(scopeassignment.TeamIDIn(teamIDs...), scopeassignment.Active(true), predicate.ScopeAssignment(answers.NotEnded)).
		All(ctx)
	if err != nil {
		return nil, nil, dbError(err, "team's scopes")
	}
	return roles, scopes, nil
}

// mayTakeAway is FORBIDDEN unless the viewer could grant each of the
// team's live grants: each role's permissions held, with ROLE_MANAGE and a
// GLOBAL scope; each scope in the viewer's write reach and no broader than
// a scope they hold, with SCOPE_MANAGE.
func (s *Service) mayTakeAway(ctx context.Context, tx *ent.Tx, reach access.Reach, teamID int) error {
	roles, scopes, err := teamGrants(ctx, tx.Client(), teamID)
	if err != nil {
		return err
	}
	return withinTeamGrants(reach, roles, scopes)
}

func withinTeamGrants(reach access.Reach, roles []*ent.RoleAssignment, scopes []*ent.ScopeAssignment) error {
	if len(roles) > 0 && (!reach.Can(access.RoleManage) || !reach.Global) {
		return apperr.Errorf(apperr.Forbidden, "the team holds roles, and granting roles needs ROLE_MANAGE and a GLOBAL scope")
	}
	for _, ra := range roles {
		if err := withinOwn(reach, ra.Edges.Role.Permissions, "the team's role "+string(ra.Edges.Role.Type)); err != nil {
			return err
		}
	}
	if len(scopes) > 0 && !reach.Can(access.ScopeManage) {
		return apperr.Errorf(apperr.Forbidden, "the team holds scopes, and granting scopes needs SCOPE_MANAGE")
	}
	for _, sa := range scopes {
		if checkScopeInput(reach, scopeInputOf(sa)) != nil {
			return apperr.Errorf(apperr.Forbidden, "the team holds a %s scope beyond your write reach", sa.ScopeType)
		}
	}
	return nil
}

// mayConfer is mayTakeAway plus time: each of the team's grants, as a
// member would hold it (until the membership's end or the grant's,
// whichever is earlier), must end no later than the author's own grant
// that allows it.
func (s *Service) mayConfer(ctx context.Context, tx *ent.Tx, reach access.Reach, teamID int, end *time.Time) error {
	roles, scopes, err := teamGrants(ctx, tx.Client(), teamID)
	if err != nil {
		return err
	}
	if err := withinTeamGrants(reach, roles, scopes); err != nil {
		return err
	}
	grants, err := loadAuthorGrants(ctx, tx)
	if err != nil {
		return err
	}
	for _, ra := range roles {
		if err := grants.roleBound(ra.Edges.Role.Permissions).check(earlier(end, ra.ExpiresAt), "the team's role "+string(ra.Edges.Role.Type)); err != nil {
			return err
		}
	}
	for _, sa := range scopes {
		b, err := grants.scopeBound(ctx, tx, scopeInputOf(sa))
		if err != nil {
			return err
		}
		if err := b.check(earlier(end, sa.ExpiresAt), "the team's "+string(sa.ScopeType)+" scope"); err != nil {
			return err
		}
	}
	return nil
}

// earlier of two ends, nil being never.
func earlier(a, b *time.Time) *time.Time {
	switch {
	case a == nil:
		return b
	case b == nil || a.Before(*b):
		return a
	}
	return b
}

// roleWithinOwn loads a role once the viewer is known to hold all its
// permissions.
func roleWithinOwn(ctx context.Context, tx *ent.Tx, reach access.Reach, rt access.RoleType) (*ent.Role, error) {
	r, err := tx.Role.Query().Where(role.TypeEQ(rt)).Only(ctx)
	if err != nil {
		return nil, dbError(err, "role "+string(rt))
	}
	return r, withinOwn(reach, r.Permissions, "role "+string(rt))
}

// checkTeamFree gives a clear BAD_USER_INPUT for a name or group another
// team has (nil: not asked for).
func checkTeamFree(ctx context.Context, tx *ent.Tx, name, group *string, except int) error {
	if name != nil {
		if err := mustBeFree(ctx, tx.Team.Query().Where(team.Name(*name), team.IDNEQ(except)).Exist,
			"team", "a team named %q already exists", *name); err != nil {
			return err
		}
	}
	if group != nil {
		return mustBeFree(ctx, tx.Team.Query().Where(team.ExternalGroup(*group), team.IDNEQ(except)).Exist,
			"team", "a team mirrors group %q already", *group)
	}
	return nil
}

// TeamMembers pages through a team's members (active memberships that have
// not ended), by ID, as far as the viewer may read them.
func (s *Service) TeamMembers(ctx context.Context, teamID, first int, after *ent.Cursor) (*ent.UserConnection, error) {
	conn, err := s.db.User.Query().
		Where(user.HasTeamMembershipsWith(teammembership.TeamID(teamID), teammembership.Active(true),
			predicate.TeamMembership(answers.NotEnded))).
		Paginate(ctx, after, &first, nil, nil)
	if err != nil {
		return nil, dbError(err, "team members")
	}
	return conn, nil
}

// MaxTeamsPerUser bounds the teams a user is a member of: what prices
// User.teams (graph/complexity.go) and what one sign-in's group claim may
// add.
const MaxTeamsPerUser = 100

// checkTeamsOfUser refuses a membership beyond MaxTeamsPerUser.
func checkTeamsOfUser(ctx context.Context, tx *ent.Tx, userID, teamID int) error {
	n, err := tx.TeamMembership.Query().
		Where(teammembership.UserID(userID), teammembership.TeamIDNEQ(teamID)).Count(reqctx.NewContextWithSystem(ctx))
	if err != nil {
		return dbError(err, "team memberships")
	}
	if n >= MaxTeamsPerUser {
		return badInput("a user is a member of at most %d teams", MaxTeamsPerUser)
	}
	return nil
}

// sameGroup reports whether an update leaves the team's group as it is.
func sameGroup(current *string, in ent.UpdateTeamInput) bool {
	if in.ClearExternalGroup {
		return current == nil && in.ExternalGroup == nil
	}
	return current != nil && in.ExternalGroup != nil && *current == *in.ExternalGroup
}

// groupName names a group for the log ("none" for none).
func groupName(g *string) string {
	if g == nil {
		return "none"
	}
	return fmt.Sprintf("%q", *g)
}
