package schema

import (
	"context"
	"errors"

	"authz-gateway/access"
	"authz-gateway/apperr"
	gen "authz-gateway/ent"
	"authz-gateway/ent/privacy"
	"authz-gateway/ent/program"
	"authz-gateway/ent/project"
	"authz-gateway/ent/roleassignment"
	"authz-gateway/ent/scopeassignment"
	"authz-gateway/ent/user"
	"authz-gateway/reqctx"

	"entgo.io/ent"
)

// The privacy rules are the single choke point for reads: every query a
// viewer's request makes (root connections, node/nodes, edges, counts) is
// narrowed to what the viewer may read. The viewer's reach comes from the
// request (reqctx.ReachFromContext), which resolves it through the cache, so a
// warm request costs no authorization SQL. The gateway's own work runs in a
// system context and sees everything.

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
			if reqctx.IsSystem(ctx) {
				return privacy.Allow
			}
			return privacy.Denyf("writes go through the authz service")
		}),
	}
}

func allowSystem() privacy.QueryRule {
	return privacy.ContextQueryMutationRule(func(ctx context.Context) error {
		if reqctx.IsSystem(ctx) {
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

// filterPrograms: PROGRAM_READ and the program in scope.
func filterPrograms() privacy.QueryRule {
	return privacy.ProgramQueryRuleFunc(func(ctx context.Context, q *gen.ProgramQuery) error {
		reach, err := viewerReach(ctx)
		switch {
		case err != nil:
			return err
		case !reach.Can(access.ProgramRead):
			q.Where(program.IDIn())
		case !reach.Global:
			q.Where(program.IDIn(reach.Programs...))
		}
		return privacy.Allow
	})
}

// filterProjects: PROJECT_READ and the project in scope.
func filterProjects() privacy.QueryRule {
	return privacy.ProjectQueryRuleFunc(func(ctx context.Context, q *gen.ProjectQuery) error {
		reach, err := viewerReach(ctx)
		switch {
		case err != nil:
			return err
		case !reach.Can(access.ProjectRead):
			q.Where(project.IDIn())
		case !reach.Global:
			q.Where(project.IDIn(reach.Projects...))
		}
		return privacy.Allow
	})
}

// filterUsers: USER_READ reads every user; anyone reads themselves.
func filterUsers() privacy.QueryRule {
	return privacy.UserQueryRuleFunc(func(ctx context.Context, q *gen.UserQuery) error {
		self, limited, err := selfOnly(ctx)
		if err != nil {
			return err
		}
		if limited {
			q.Where(user.ID(self))
		}
		return privacy.Allow
	})
}

// filterRoleAssignments and filterScopeAssignments follow their user's
// visibility. A visible scope assignment whose target is out of scope shows
// the target as null (the target's own rule hides it).
func filterRoleAssignments() privacy.QueryRule {
	return privacy.RoleAssignmentQueryRuleFunc(func(ctx context.Context, q *gen.RoleAssignmentQuery) error {
		self, limited, err := selfOnly(ctx)
		if err != nil {
			return err
		}
		if limited {
			q.Where(roleassignment.UserID(self))
		}
		return privacy.Allow
	})
}

func filterScopeAssignments() privacy.QueryRule {
	return privacy.ScopeAssignmentQueryRuleFunc(func(ctx context.Context, q *gen.ScopeAssignmentQuery) error {
		self, limited, err := selfOnly(ctx)
		if err != nil {
			return err
		}
		if limited {
			q.Where(scopeassignment.UserID(self))
		}
		return privacy.Allow
	})
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
