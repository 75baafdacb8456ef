package authz

import (
	"authz-gateway/freshness"
	"context"
	"fmt"
	"strings"
	"time"

	"authz-gateway/access"
	"authz-gateway/apperr"
	"authz-gateway/ent"
	"authz-gateway/ent/role"
	"authz-gateway/ent/roleassignment"
	"authz-gateway/ent/user"
)

// Roles returns every role, in role-type order. Any authenticated viewer may
// list them: they are the vocabulary of the permission model.
func (s *Service) Roles(ctx context.Context) ([]*ent.Role, error) {
	roles, err := s.db.Role.Query().Order(ent.Asc(role.FieldID)).All(ctx)
	if err != nil {
		return nil, dbError(err, "roles")
	}
	return roles, nil
}

// AssignRole gives a user a role, or reactivates the existing assignment,
// ending on its own at expiresAt (nil: never; assigning again sets the end
// anew). Every role change needs ROLE_MANAGE, a GLOBAL scope and every
// permission of the role (nobody grants beyond what they hold); the last
// admin cannot lose ADMIN, nor hold it only until an end.
func (s *Service) AssignRole(ctx context.Context, userID int, rt access.RoleType, expiresAt *time.Time) (*ent.RoleAssignment, error) {
	end, err := checkEnd(expiresAt)
	if err != nil {
		return nil, err
	}
	ra, err := s.setRoleAssignment(ctx, "assignRole", userID, rt, roleChange{active: true, createMissing: true, setEnd: true, end: end})
	if err == nil && end != nil {
		s.log.WakeExpiry() // it may end before the watcher's next look
	}
	return ra, err
}

// SetRoleActive reactivates an existing assignment (active) or keeps it
// but stops it from counting. Needs ROLE_MANAGE; NOT_FOUND when the user
// does not hold the role.
func (s *Service) SetRoleActive(ctx context.Context, userID int, rt access.RoleType, active bool) (*ent.RoleAssignment, error) {
	op := "deactivateRole"
	if active {
		op = "activateRole"
	}
	return s.setRoleAssignment(ctx, op, userID, rt, roleChange{active: active})
}

// roleChange is what setRoleAssignment does: set the assignment's activity,
// and create it when the user does not hold the role yet (assignRole) or
// answer NOT_FOUND (activateRole, deactivateRole).
type roleChange struct {
	active        bool
	createMissing bool
	// setEnd: the assignment's end becomes end (nil: none), and its expiry
	// is to be logged anew.
	setEnd bool
	end    *time.Time
}

func (s *Service) setRoleAssignment(ctx context.Context, op string, userID int, rt access.RoleType, rc roleChange) (*ent.RoleAssignment, error) {
	reach, err := s.requireRoleManagement(ctx)
	if err != nil {
		return nil, err
	}
	var result *ent.RoleAssignment
	change := func(ctx context.Context, tx *ent.Tx) (freshness.Change, error) {
		r, err := s.roleToManage(ctx, tx, reach, rt, userID)
		if err != nil {
			return freshness.Change{}, err
		}
		existing, err := tx.RoleAssignment.Query().
			Where(roleassignment.UserID(userID), roleassignment.RoleID(r.ID)).
			Only(ctx)
		if err == nil || (ent.IsNotFound(err) && rc.createMissing) {
			if berr := s.checkRoleEnd(ctx, tx, r, rc, existing); berr != nil {
				return freshness.Change{}, berr
			}
		}
		switch {
		case ent.IsNotFound(err) && rc.createMissing:
			result, err = tx.RoleAssignment.Create().SetUserID(userID).SetRoleID(r.ID).SetActive(rc.active).
				SetNillableExpiresAt(rc.end).Save(ctx)
		case ent.IsNotFound(err):
			return freshness.Change{}, apperr.Errorf(apperr.NotFound, "user %d does not hold role %s", userID, rt)
		case err == nil:
			upd := existing.Update().SetActive(rc.active)
			if rc.setEnd {
				newEnd(upd, rc.end)
			}
			result, err = upd.Save(ctx)
		}
		return freshness.Change{Users: []int{userID}, Target: fmt.Sprintf("user %d, role %s", userID, rt)}, dbError(err, "role assignment")
	}
	if rt == access.RoleAdmin && (!rc.active || rc.end != nil) {
		change = s.keepAnAdmin(change)
	}
	if err := s.mutate(ctx, op, change); err != nil {
		return nil, err
	}
	return result.Unwrap(), nil
}

// checkRoleEnd refuses a role assignment that, once active, would outlast
// the author's own grants that allow it (existing: the assignment being
// reactivated, nil when it is created).
func (s *Service) checkRoleEnd(ctx context.Context, tx *ent.Tx, r *ent.Role, rc roleChange, existing *ent.RoleAssignment) error {
	if !rc.active {
		return nil
	}
	end := rc.end
	if !rc.setEnd && existing != nil {
		end = existing.ExpiresAt
	}
	grants, err := loadAuthorGrants(ctx, tx)
	if err != nil {
		return err
	}
	return grants.roleBound(r.Permissions).check(end, "role "+string(r.Type))
}

// RemoveRole deletes the assignment. Needs ROLE_MANAGE. Returns false when the
// user did not hold the role; NOT_FOUND when the user does not exist.
func (s *Service) RemoveRole(ctx context.Context, userID int, rt access.RoleType) (bool, error) {
	reach, err := s.requireRoleManagement(ctx)
	if err != nil {
		return false, err
	}
	var removed int
	change := func(ctx context.Context, tx *ent.Tx) (freshness.Change, error) {
		r, err := s.roleToManage(ctx, tx, reach, rt, userID)
		if err != nil {
			return freshness.Change{}, err
		}
		n, err := tx.RoleAssignment.Delete().
			Where(roleassignment.UserID(userID), roleassignment.RoleID(r.ID)).
			Exec(ctx)
		removed = n
		return freshness.Change{Users: []int{userID}, Target: fmt.Sprintf("user %d, role %s", userID, rt)}, dbError(err, "role assignment")
	}
	if rt == access.RoleAdmin {
		change = s.keepAnAdmin(change)
	}
	err = s.mutate(ctx, "removeRole", change)
	return removed > 0, err
}

// SetRolePermissions replaces a role's permission set. Needs ROLE_MANAGE.
// Every holder of the role (active or not) is invalidated: the users who
// hold it, and the members of the teams that do.
func (s *Service) SetRolePermissions(ctx context.Context, rt access.RoleType, perms []access.Permission) (*ent.Role, error) {
	reach, err := s.requireRoleManagement(ctx)
	if err != nil {
		return nil, err
	}
	perms, err = access.NormalizePermissions(perms)
	if err != nil {
		return nil, apperr.Wrap(apperr.BadUserInput, err, err.Error())
	}
	if rt == access.RoleAdmin && len(perms) < len(access.AllPermissions) {
		// Without every permission no admin could restore the others
		// (nobody grants what they lack): a lockout.
		return nil, badInput("ADMIN always holds every permission")
	}
	if err := withinOwn(reach, perms, "the new permission set"); err != nil {
		return nil, err
	}
	var updated *ent.Role
	err = s.mutate(ctx, "setRolePermissions", func(ctx context.Context, tx *ent.Tx) (freshness.Change, error) {
		// Locking the role makes a concurrent assignRole of it (whose foreign
		// key check needs the row) wait, so the holders read below are all.
		r, err := s.lockRole(ctx, tx, rt)
		if err != nil {
			return freshness.Change{}, err
		}
		if err := withinOwn(reach, r.Permissions, "role "+string(rt)); err != nil {
			return freshness.Change{}, err
		}
		holders, err := roleHolders(ctx, tx, r.ID)
		if err != nil {
			return freshness.Change{}, err
		}
		updated, err = r.Update().SetPermissions(perms).Save(ctx)
		holders.Target = fmt.Sprintf("role %s: %v", rt, perms)
		return holders, dbError(err, "role "+string(rt))
	})
	if err != nil {
		return nil, err
	}
	return updated.Unwrap(), nil
}

// roleToManage loads the role an assignment change is about, once the
// viewer is known to hold all its permissions and the user to exist.
func (s *Service) roleToManage(ctx context.Context, tx *ent.Tx, reach access.Reach, rt access.RoleType, userID int) (*ent.Role, error) {
	r, err := roleWithinOwn(ctx, tx, reach, rt)
	if err != nil {
		return nil, err
	}
	return r, s.lockUser(ctx, tx, userID)
}

// lockUser locks the user's row for the transaction, NOT_FOUND when there is
// none: role changes of one user take turns, so concurrent assignRole and
// removeRole calls each find what the one before left (no duplicate
// assignment refused by the unique index, no update of a row just deleted).
func (s *Service) lockUser(ctx context.Context, tx *ent.Tx, userID int) error {
	q := tx.User.Query().Where(user.ID(userID))
	if s.locksRows() {
		q = q.ForUpdate()
	}
	ids, err := q.IDs(ctx)
	if err != nil {
		return dbError(err, "user")
	}
	if len(ids) == 0 {
		return apperr.Errorf(apperr.NotFound, "user not found")
	}
	return nil
}

// requireRoleManagement returns the viewer's reach if they may manage roles:
// ROLE_MANAGE and a GLOBAL scope (roles apply everywhere).
func (s *Service) requireRoleManagement(ctx context.Context) (access.Reach, error) {
	reach, err := s.Require(ctx, access.RoleManage)
	if err != nil {
		return access.Reach{}, err
	}
	if !reach.Global {
		return access.Reach{}, apperr.Errorf(apperr.Forbidden, "managing roles needs a GLOBAL scope")
	}
	return reach, nil
}

// withinOwn is FORBIDDEN unless the viewer holds every one of perms: nobody
// grants, edits or takes away a role (or changes a user) beyond what they
// hold themselves.
func withinOwn(reach access.Reach, perms []access.Permission, what string) error {
	var lacking []string
	for _, p := range perms {
		if !reach.Can(p) {
			lacking = append(lacking, string(p))
		}
	}
	if len(lacking) > 0 {
		return apperr.Errorf(apperr.Forbidden, "%s holds permissions you lack: %s", what, strings.Join(lacking, ", "))
	}
	return nil
}

func userExists(ctx context.Context, tx *ent.Tx, id int) error {
	return mustExist(ctx, tx.User.Query().Where(user.ID(id)).Exist, "user")
}

// roleHolders is the change of a role's permission set: the users who hold
// it (read after locking the role, whose row a concurrent assignment's
// foreign key check needs) and the teams that do, whose members are found
// at delivery.
func roleHolders(ctx context.Context, tx *ent.Tx, roleID int) (freshness.Change, error) {
	var rows []holderRow
	err := tx.RoleAssignment.Query().Where(roleassignment.RoleID(roleID)).
		Select(roleassignment.FieldUserID, roleassignment.FieldTeamID).Scan(ctx, &rows)
	if err != nil {
		return freshness.Change{}, dbError(err, "role holders")
	}
	return holdersOf(rows).change(), nil
}
