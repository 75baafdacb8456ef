package schema

import (
	"context"
	"errors"

	"authz-gateway/access"
	"authz-gateway/apperr"
	gen "authz-gateway/ent"
	"authz-gateway/ent/accesschange"
	"authz-gateway/ent/predicate"
	"authz-gateway/ent/privacy"
	"authz-gateway/ent/program"
	"authz-gateway/ent/project"
	"authz-gateway/ent/roleassignment"
	"authz-gateway/ent/scopeassignment"
	"authz-gateway/ent/team"
	"authz-gateway/ent/teammembership"
	"authz-gateway/ent/user"
	"authz-gateway/reqctx"

	"entgo.io/ent"
)

// Reads are filtered by access.Reach, the one statement of who may read
// what. These privacy rules apply it to every ent query a viewer's request
// makes (root connections, node/nodes, edges, counts), as SQL predicates; the
// only reads that answer without an ent query (a user's accessible IDs served
// from the cache, see graph.accessible) apply the same Reach methods. The
// viewer's reach comes from the request (reqctx.ReachFromContext: the authz
// service's per-request memo, through the cache), so a warm request costs no
// authorization SQL. The gateway's own work runs in a system context and
// sees everything.

// readPolicy allows system reads and otherwise applies filter.
func readPolicy(filter privacy.QueryRule) ent.Policy {
	return privacy.Policy{
		Query:    privacy.QueryPolicy{allowSystem(), filter},
		Mutation: systemOnlyWrites(),
	}
}

// systemOnlyWrites makes the authz service the only writer: it checks
// permission and scope, then writes in a system context. A resolver that tried
// to write directly would be denied.
func systemOnlyWrites() privacy.MutationPolicy {
	return privacy.MutationPolicy{
		privacy.ContextQueryMutationRule(func(ctx context.Context) error {
			if reqctx.SystemFromContext(ctx) {
				return privacy.Allow
			}
			return privacy.Denyf("writes go through the authz service")
		}),
	}
}

func allowSystem() privacy.QueryRule {
	return privacy.ContextQueryMutationRule(func(ctx context.Context) error {
		if reqctx.SystemFromContext(ctx) {
			return privacy.Allow
		}
		return privacy.Skip
	})
}

// viewerReach resolves the viewer's reach or the decision to deny.
func viewerReach(ctx context.Context) (access.Reach, error) {
	reach, err := reqctx.ReachFromContext(ctx)
	if errors.Is(err, reqctx.ErrNoViewer) {
		return access.Reach{}, apperr.Errorf(apperr.Unauthenticated, "authentication required")
	}
	return reach, err
}

// inReach narrows a query to the rows the viewer may read: with perm, the
// IDs in reach (all of them with a GLOBAL scope); without it, none.
func inReach[Q interface{ Where(...P) Q }, P any](perm access.Permission, ids func(access.Reach) []int, idIn func(...int) P) func(context.Context, Q) error {
	return func(ctx context.Context, q Q) error {
		reach, err := viewerReach(ctx)
		switch {
		case err != nil:
			return err
		case !reach.Can(perm):
			q.Where(idIn())
		case !reach.Global:
			q.Where(idIn(ids(reach)...))
		}
		return privacy.Allow
	}
}

// ownRows narrows a query to the viewer's own rows unless the viewer holds
// USER_READ: users, and the role and scope assignments, which follow their
// user's visibility. A visible scope assignment whose target is out of scope
// shows the target as null (the target's own rule hides it).
func ownRows[Q interface{ Where(...P) Q }, P any](ofUser func(int) P) func(context.Context, Q) error {
	return func(ctx context.Context, q Q) error {
		self, limited, err := selfOnly(ctx)
		if err != nil {
			return err
		}
		if limited {
			q.Where(ofUser(self))
		}
		return privacy.Allow
	}
}

func filterPrograms() privacy.QueryRule {
	return privacy.ProgramQueryRuleFunc(inReach[*gen.ProgramQuery](access.ProgramRead,
		func(r access.Reach) []int { return r.Programs }, program.IDIn))
}

// filterProjects expresses the project reach as scopes (the projects of
// PROGRAM-scoped programs, and PROJECT-scoped projects), not as the list of
// every reachable project: a program of 70,000 projects is one parameter.
func filterProjects() privacy.QueryRule {
	return privacy.ProjectQueryRuleFunc(func(ctx context.Context, q *gen.ProjectQuery) error {
		reach, err := viewerReach(ctx)
		switch {
		case err != nil:
			return err
		case !reach.Can(access.ProjectRead):
			q.Where(project.IDIn())
		case !reach.Global:
			q.Where(project.Or(project.ProgramIDIn(reach.ScopedPrograms...), project.IDIn(reach.ScopedProjects...)))
		}
		return privacy.Allow
	})
}

func filterUsers() privacy.QueryRule {
	return privacy.UserQueryRuleFunc(ownRows[*gen.UserQuery](user.ID))
}

// The assignments follow their holder's visibility: a viewer without
// USER_READ reads only their own user's (a team's need USER_READ).
func filterRoleAssignments() privacy.QueryRule {
	return privacy.RoleAssignmentQueryRuleFunc(ownRows[*gen.RoleAssignmentQuery](roleassignment.UserID))
}

func filterScopeAssignments() privacy.QueryRule {
	return privacy.ScopeAssignmentQueryRuleFunc(ownRows[*gen.ScopeAssignmentQuery](scopeassignment.UserID))
}

// filterTeams: with USER_READ every team; without it, the viewer's own
// teams (a member may know which teams they are in, not who else is).
func filterTeams() privacy.QueryRule {
	return privacy.TeamQueryRuleFunc(ownRows[*gen.TeamQuery](func(self int) predicate.Team {
		return team.HasMembershipsWith(teammembership.UserID(self))
	}))
}

// filterTeamMemberships: with USER_READ every membership; without it, the
// viewer's own.
func filterTeamMemberships() privacy.QueryRule {
	return privacy.TeamMembershipQueryRuleFunc(ownRows[*gen.TeamMembershipQuery](teammembership.UserID))
}

// anyViewer lets every authenticated viewer read (roles are the vocabulary).
func anyViewer() privacy.QueryRule {
	return privacy.ContextQueryMutationRule(func(ctx context.Context) error {
		if _, err := viewerReach(ctx); err != nil {
			return err
		}
		return privacy.Allow
	})
}

// selfOnly reports whether the viewer is limited to their own user (no
// USER_READ), and their ID.
func selfOnly(ctx context.Context) (self int, limited bool, err error) {
	reach, err := viewerReach(ctx)
	if err != nil {
		return 0, false, err
	}
	if reach.Can(access.UserRead) {
		return 0, false, nil
	}
	v, ok := reqctx.ViewerFromContext(ctx)
	if !ok {
		return 0, false, apperr.Errorf(apperr.Unauthenticated, "authentication required")
	}
	return v.UserID, true, nil
}

// filterAccessChanges: AUDIT_READ, and the entry's object in reach: GLOBAL
// viewers read every entry, others the entries about a program or project
// they may read.
func filterAccessChanges() privacy.QueryRule {
	return privacy.AccessChangeQueryRuleFunc(func(ctx context.Context, q *gen.AccessChangeQuery) error {
		reach, err := viewerReach(ctx)
		switch {
		case err != nil:
			return err
		case !reach.Can(access.AuditRead):
			q.Where(accesschange.IDIn())
		case !reach.Global:
			q.Where(accesschange.Or(
				accesschange.And(accesschange.ScopeKind("program"), accesschange.ScopeIDIn(readable(reach, access.ProgramRead, reach.Programs)...)),
				accesschange.And(accesschange.ScopeKind("project"), accesschange.ScopeIDIn(readable(reach, access.ProjectRead, reach.Projects)...)),
			))
		}
		return privacy.Allow
	})
}

// readable is ids when the viewer holds perm, none otherwise.
func readable(reach access.Reach, perm access.Permission, ids []int) []int {
	if !reach.Can(perm) {
		return nil
	}
	return ids
}

// filterAccessChangeUsers: the rows say whom a change affected; only
// AUDIT_READ holders read them (the entries themselves are filtered above).
func filterAccessChangeUsers() privacy.QueryRule {
	return privacy.ContextQueryMutationRule(func(ctx context.Context) error {
		reach, err := viewerReach(ctx)
		switch {
		case err != nil:
			return err
		case !reach.Can(access.AuditRead):
			return privacy.Denyf("missing permission %s", access.AuditRead)
		}
		return privacy.Allow
	})
}
