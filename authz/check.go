package authz

import (
	"context"
	"database/sql"
	"fmt"
	"slices"

	"authz-gateway/access"
	"authz-gateway/answers"
	"authz-gateway/apperr"
	"authz-gateway/ent"
	"authz-gateway/ent/program"
	"authz-gateway/ent/project"
	"authz-gateway/ent/user"
	"authz-gateway/reqctx"
)

// Check is one authorization question, the peer of SpiceDB's
// CheckPermission: may the user use the permission on the object?
type Check struct {
	UserID     int
	Permission access.Permission
	On         int
}

// MaxChecks bounds one CheckAccess call.
const MaxChecks = 1000

// object resolves an ID to the program or project it names, NOT_FOUND
// unless the viewer may read it. No SQL on a warm path for a scoped viewer:
// the ID's type comes from its range (ent's globally unique IDs; the type
// table is read once per process) and its existence from the viewer's cached
// lists. A GLOBAL viewer keeps no lists, so existence comes from the L1's
// catalog facts, or costs one indexed lookup.
func (s *Service) object(ctx context.Context, reach access.Reach, id int) (access.Object, error) {
	kind, err := s.objectKind(ctx, id)
	if err != nil {
		return access.Object{}, err
	}
	if kind == "" {
		return access.Object{}, badInput("%d is not the ID of a program or a project", id)
	}
	o := access.Object{Kind: kind, ID: id}
	notFound := apperr.Errorf(apperr.NotFound, "program or project not found")
	if !reach.Sees(o) {
		return access.Object{}, notFound
	}
	if reach.Global {
		exists, err := s.exists(reqctx.NewContextWithSystem(ctx), o)
		if err != nil {
			return access.Object{}, err
		}
		if !exists {
			return access.Object{}, notFound
		}
	}
	return o, nil
}

// exists reports whether o exists: through the L1, which keeps the yes
// until the catalog changes (a deletion is a catalog change, dropped from
// every L1 before it returns), else one indexed lookup.
func (s *Service) exists(ctx context.Context, o access.Object) (bool, error) {
	return s.cache.ObjectExists(ctx, o.ID, func(ctx context.Context) (bool, error) {
		if o.Kind == access.ProgramObject {
			return s.db.Program.Query().Where(program.ID(o.ID)).Exist(ctx)
		}
		return s.db.Project.Query().Where(project.ID(o.ID)).Exist(ctx)
	})
}

// checkObject resolves the object of a check about userID asked by the
// viewer (viewerID, with reach viewer). About another user, an object the
// viewer cannot read, or that does not exist, is NOT_FOUND. About the
// viewer, it is no error: ok is false and the check answers false, the same
// for a missing object as for an unreadable one, so nothing leaks and a UI
// never loses `me` to one check. An ID of another type is BAD_USER_INPUT
// for everyone.
func (s *Service) checkObject(ctx context.Context, viewer access.Reach, viewerID, userID, on int) (o access.Object, ok bool, err error) {
	o, err = s.object(ctx, viewer, on)
	switch {
	case err == nil:
		return o, true, nil
	case userID == viewerID && apperr.CodeOf(err) == apperr.NotFound:
		return access.Object{}, false, nil
	}
	return access.Object{}, false, err
}

// Reaches reads users' reaches, batched per request (the request's
// loaders).
type Reaches interface {
	Reach(ctx context.Context, userID int) (access.Reach, error)
}

// Can is User.can: whether userID may use p on the object named on, asked
// by the request's viewer, from the cached answers alone. The viewer's reach
// decides whether the object may be named (checkObject: about the viewer, an
// object it cannot name answers false); the user's reach (read from
// reaches only when needed) whether it is allowed.
func (s *Service) Can(ctx context.Context, reaches Reaches, userID int, p access.Permission, on int) (bool, error) {
	viewer, err := reqctx.ReachFromContext(ctx)
	if err != nil {
		return false, err
	}
	v, _ := reqctx.ViewerFromContext(ctx)
	o, ok, err := s.checkObject(ctx, viewer, v.UserID, userID, on)
	if err != nil || !ok {
		return false, err
	}
	reach, err := reaches.Reach(ctx, userID)
	if err != nil {
		return false, err
	}
	return reach.Allows(p, o), nil
}

// CheckAccess answers checks in one batch: one cache round trip for every
// user's answers. Asking about another user needs USER_READ, and the user
// must exist (NOT_FOUND otherwise: answers about made-up users are never
// computed, so they cannot fill the cache); every object must be readable
// by the viewer, except in checks about the viewer itself (checkObject).
func (s *Service) CheckAccess(ctx context.Context, checks []Check) ([]bool, error) {
	if len(checks) > MaxChecks {
		return nil, badInput("at most %d checks per call", MaxChecks)
	}
	objects, err := s.checkedObjects(ctx, checks)
	if err != nil {
		return nil, err
	}
	if err := s.checkedUsersExist(ctx, checks); err != nil {
		return nil, err
	}
	var keys []answers.Key
	for _, c := range checks {
		keys = append(keys, answers.ReachKeys(c.UserID)...)
	}
	got, err := s.answers.Answers(ctx, keys)
	if err != nil {
		return nil, err
	}
	out := make([]bool, len(checks))
	for i, c := range checks {
		out[i] = objects[i].ID != 0 && answers.ReachFromAnswers(c.UserID, got).Allows(c.Permission, objects[i])
	}
	return out, nil
}

// checkedUsersExist refuses checks about users who do not exist, in one
// indexed statement for the users other than the viewer (none when every
// check is about the viewer).
func (s *Service) checkedUsersExist(ctx context.Context, checks []Check) error {
	v, _ := reqctx.ViewerFromContext(ctx)
	var others []int
	for _, c := range checks {
		if c.UserID != v.UserID && !slices.Contains(others, c.UserID) {
			others = append(others, c.UserID)
		}
	}
	if len(others) == 0 {
		return nil
	}
	known, err := s.db.User.Query().Where(user.IDIn(others...)).IDs(reqctx.NewContextWithSystem(ctx))
	if err != nil {
		return err
	}
	for i, c := range checks {
		if c.UserID != v.UserID && !slices.Contains(known, c.UserID) {
			return inputAt("checks", len(checks), i, apperr.Errorf(apperr.NotFound, "user not found"))
		}
	}
	return nil
}

// checkedObjects applies the rules every check is asked under and resolves
// each check's object.
func (s *Service) checkedObjects(ctx context.Context, checks []Check) ([]access.Object, error) {
	viewer, err := s.viewerReach(ctx)
	if err != nil {
		return nil, err
	}
	v, _ := reqctx.ViewerFromContext(ctx)
	objects := make([]access.Object, len(checks))
	for i, c := range checks {
		if c.UserID != v.UserID && !viewer.Can(access.UserRead) {
			return nil, inputAt("checks", len(checks), i, apperr.Errorf(apperr.Forbidden, "missing permission %s", access.UserRead))
		}
		if objects[i], _, err = s.checkObject(ctx, viewer, v.UserID, c.UserID, c.On); err != nil {
			return nil, inputAt("checks", len(checks), i, err)
		}
	}
	return objects, nil
}

// Explanation says why a check is allowed or not, the peer of SpiceDB's
// expand: the active role assignments that grant the permission, the active
// scope assignments that put the object in the needed reach, and what is
// missing.
type Explanation struct {
	Allowed bool
	Roles   []*ent.RoleAssignment
	Scopes  []*ent.ScopeAssignment
	Missing []string
}

// ExplainAccess explains one check from the database (it is for people, not
// for the hot path). The same rules as CheckAccess guard it.
func (s *Service) ExplainAccess(ctx context.Context, c Check) (Explanation, error) {
	objects, err := s.checkedObjects(ctx, []Check{c})
	if err != nil {
		return Explanation{}, err
	}
	o := objects[0]
	reach, err := s.Reach(ctx, c.UserID)
	if err != nil {
		return Explanation{}, err
	}
	sys := reqctx.NewContextWithSystem(ctx)
	ex := Explanation{Allowed: reach.Allows(c.Permission, o)}
	held, err := liveGrants(sys, s.db, c.UserID)
	if err != nil {
		return Explanation{}, err
	}
	ex.Roles = grantingRoles(held, c.Permission)
	if ex.Scopes, err = s.grantingScopes(sys, held, c, o); err != nil {
		return Explanation{}, err
	}
	u, err := s.db.User.Get(sys, c.UserID)
	switch {
	case err != nil:
		return Explanation{}, dbError(err, "user")
	case !u.Active:
		ex.Missing = append(ex.Missing, "the user is inactive")
	}
	if len(ex.Roles) == 0 {
		ex.Missing = append(ex.Missing, fmt.Sprintf("an active role with %s", c.Permission))
	}
	if len(ex.Scopes) == 0 {
		reach := "read"
		if !c.Permission.IsRead() {
			reach = "write"
		}
		ex.Missing = append(ex.Missing, fmt.Sprintf("an active scope with %s %d in its %s reach", o.Kind, o.ID, reach))
	}
	return ex, nil
}

// grantingRoles are the user's live role assignments (their own and their
// teams', which name the team) whose role holds p.
func grantingRoles(held *authorGrants, p access.Permission) []*ent.RoleAssignment {
	var out []*ent.RoleAssignment
	for _, ra := range held.roles {
		if slices.Contains(ra.Edges.Role.Permissions, p) {
			out = append(out, ra)
		}
	}
	return out
}

// grantingScopes are the user's active scopes (their own and their teams',
// which name the team) that put the object in the reach the permission
// needs (docs/design.md, section 3).
func (s *Service) grantingScopes(ctx context.Context, held *authorGrants, c Check, o access.Object) ([]*ent.ScopeAssignment, error) {
	parent := 0 // the project's program
	var children []int
	if o.Kind == access.ProjectObject {
		p, err := s.db.Project.Get(ctx, o.ID)
		if err != nil {
			return nil, dbError(err, "project")
		}
		parent = p.ProgramID
	} else if c.Permission.IsRead() {
		// A PROJECT scope makes its program readable.
		var err error
		if children, err = s.db.Project.Query().Where(project.ProgramID(o.ID)).IDs(ctx); err != nil {
			return nil, dbError(err, "projects")
		}
	}
	var out []*ent.ScopeAssignment
	for _, sa := range held.scopes {
		if grants(sa, o, parent, children) {
			out = append(out, sa)
		}
	}
	return out, nil
}

func grants(sa *ent.ScopeAssignment, o access.Object, parent int, children []int) bool {
	is := func(p *int, id int) bool { return p != nil && *p == id }
	switch {
	case sa.ScopeType == access.ScopeGlobal:
		return true
	case o.Kind == access.ProgramObject:
		return is(sa.ProgramID, o.ID) || (sa.ProjectID != nil && slices.Contains(children, *sa.ProjectID))
	}
	return is(sa.ProgramID, parent) || is(sa.ProjectID, o.ID)
}

// objectKind names the type of an ID: ent's globally unique IDs give each
// type a range of 2^32, in the order of the ent_types table, which is read
// once per process (it only grows when the schema gains a type).
func (s *Service) objectKind(ctx context.Context, id int) (access.ObjectKind, error) {
	types, err := s.typeTable(ctx)
	if err != nil {
		return "", err
	}
	idx := id / (1<<32 - 1)
	if id <= 0 || idx >= len(types) {
		return "", nil
	}
	switch types[idx] {
	case "programs":
		return access.ProgramObject, nil
	case "projects":
		return access.ProjectObject, nil
	}
	return "", nil
}

func (s *Service) typeTable(ctx context.Context) ([]string, error) {
	if t, ok := s.types.Load().([]string); ok {
		return t, nil
	}
	var types []string
	err := answers.Scan(reqctx.NewContextWithSystem(ctx), s.db, "SELECT type FROM ent_types ORDER BY id", nil,
		func(rows *sql.Rows) error {
			var t string
			err := rows.Scan(&t)
			types = append(types, t)
			return err
		})
	if err != nil {
		return nil, fmt.Errorf("read ent types: %w", err)
	}
	s.types.Store(types)
	return types, nil
}
