package graph

import (
	"context"

	"authz-gateway/access"
	"authz-gateway/answers"
	"authz-gateway/apperr"
	"authz-gateway/authz"
	"authz-gateway/ent"
	"authz-gateway/ent/program"
	"authz-gateway/ent/project"
	"authz-gateway/graph/model"
	"authz-gateway/loaders"
	"authz-gateway/reqctx"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// required turns a loader's nil (no readable row) into NOT_FOUND, for
// non-null edges: the object is out of the viewer's reach or gone.
func required[T any](v *T, err error) (*T, error) {
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, apperr.Errorf(apperr.NotFound, "not found")
	}
	return v, nil
}

// items says how to present one kind of accessible object.
type items[T any] struct {
	typeName string
	canRead  func(access.Reach, int) bool
	stub     func(id int) *T
}

var (
	programItems = items[ent.Program]{"Program", access.Reach.CanReadProgram, func(id int) *ent.Program { return &ent.Program{ID: id} }}
	projectItems = items[ent.Project]{"Project", access.Reach.CanReadProject, func(id int) *ent.Project { return &ent.Project{ID: id} }}
)

// accessible turns a user's accessible IDs into the objects the viewer may
// see. The viewer's reach filters the IDs with the same access.Reach rule the
// ent privacy policy applies to queries: these IDs come from the cache and,
// when the selection asks for nothing but id, never reach the database
// (`accessibleProjects { id }` is answered from the cache alone).
func accessible[T any](ctx context.Context, kind items[T], load func(context.Context, []int) ([]*T, error), ids []int, err error) ([]*T, error) {
	readable, err := readableOf(ctx, kind, ids, err)
	if err != nil {
		return nil, err
	}
	if !SelectsOnlyID(ctx, kind.typeName) {
		return load(ctx, readable)
	}
	out := make([]*T, len(readable))
	for i, id := range readable {
		out[i] = kind.stub(id)
	}
	return out, nil
}

// readableOf is the part of a user's accessible IDs the viewer may read.
func readableOf[T any](ctx context.Context, kind items[T], ids []int, err error) ([]int, error) {
	if err != nil {
		return nil, err
	}
	reach, err := reqctx.ReachFromContext(ctx)
	if err != nil {
		return nil, err
	}
	return readableIDs(ids, func(id int) bool { return kind.canRead(reach, id) }), nil
}

// visibleSummary is the user's summary as the viewer may see it
// (answers.ScopeSummary.VisibleTo), its lists read through the loaders.
func visibleSummary(ctx context.Context, userID int, sum answers.ScopeSummary) (*answers.ScopeSummary, error) {
	viewer, err := reqctx.ReachFromContext(ctx)
	if err != nil {
		return nil, err
	}
	visible, err := sum.VisibleTo(viewer, func() (programs, projects []int, err error) {
		l := loaders.For(ctx)
		if programs, err = l.AccessibleProgramIDs(ctx, userID); err != nil {
			return nil, nil, err
		}
		projects, err = l.AccessibleProjectIDs(ctx, userID)
		return programs, projects, err
	})
	return &visible, err
}

// readableIDs keeps the IDs the viewer may read.
func readableIDs(ids []int, canRead func(int) bool) []int {
	out := make([]int, 0, len(ids))
	for _, id := range ids {
		if canRead(id) {
			out = append(out, id)
		}
	}
	return out
}

// accessibleConnection is a page of a user's accessible programs or
// projects (paginate reads it from the database, the user's reach stated as
// scopes), its totalCount from the user's cached IDs (cachedCount).
func accessibleConnection[T, C any](ctx context.Context, userID int, first *int, kind items[T],
	cachedIDs func(context.Context, int) ([]int, error),
	paginate func(ctx context.Context, reach access.Reach, first int) (conn C, total *int, err error)) (C, error) {
	var none C
	n, _, err := page(first, nil)
	if err != nil {
		return none, err
	}
	reach, err := loaders.For(ctx).Reach(ctx, userID)
	if err != nil {
		return none, err
	}
	paged, counted := uncounted(ctx)
	conn, total, err := paginate(paged, reach, *n)
	if err != nil || !counted {
		return conn, err
	}
	ids, err := cachedIDs(ctx, userID)
	*total, err = cachedCount(ctx, kind, ids, err)
	return conn, err
}

// programsInReach and projectsInReach query a user's accessible programs
// and projects, the reach stated as scopes so that no catalog-sized list
// becomes a parameter (the same rule as the project privacy filter, which
// narrows these queries further to what the viewer may read).
func programsInReach(db *ent.Client, reach access.Reach) *ent.ProgramQuery {
	q := db.Program.Query()
	if !reach.Global {
		q.Where(program.IDIn(reach.Programs...)) // as many as there are programs, at most
	}
	return q
}

func projectsInReach(db *ent.Client, reach access.Reach) *ent.ProjectQuery {
	q := db.Project.Query()
	if !reach.Global {
		q.Where(project.Or(project.ProgramIDIn(reach.ScopedPrograms...), project.IDIn(reach.ScopedProjects...)))
	}
	return q
}

// SelectsOnlyID reports whether the current list field asks its items for
// nothing but id (and __typename).
func SelectsOnlyID(ctx context.Context, typeName string) bool {
	return onlyID(ctx, graphql.GetFieldContext(ctx).Field.Selections, typeName)
}

// directScopes turns the cached direct scopes into assignment objects.
func directScopes(ds []answers.DirectScope) []*ent.ScopeAssignment {
	out := make([]*ent.ScopeAssignment, len(ds))
	for i, d := range ds {
		out[i] = &ent.ScopeAssignment{
			ID: d.ID, ScopeType: d.ScopeType,
			ProgramID: d.ProgramID, ProjectID: d.ProjectID, Active: true, ExpiresAt: d.ExpiresAt,
		}
		if d.TeamID != nil {
			out[i].TeamID = d.TeamID // held through the team: the team is its holder
		} else {
			out[i].UserID = &d.UserID
		}
	}
	return out
}

func scopeInput(in *model.AssignScopeInput) authz.ScopeInput {
	deref := func(id *int) int {
		if id == nil {
			return 0
		}
		return *id
	}
	return authz.ScopeInput{UserID: deref(in.UserID), TeamID: deref(in.TeamID), ScopeType: in.ScopeType,
		ProgramID: in.ProgramID, ProjectID: in.ProjectID, ExpiresAt: in.ExpiresAt}
}

// holderUser is an assignment's user: null when a team holds it, and when
// the viewer may not read the user (who holds an assignment the viewer
// sees is then not told).
func holderUser(ctx context.Context, id *int) (*ent.User, error) {
	if id == nil {
		return nil, nil
	}
	return loaders.For(ctx).User(ctx, *id)
}

// holderTeam is an assignment's team: null when a user holds it, or when
// the viewer may not read the team.
func holderTeam(ctx context.Context, id *int) (*ent.Team, error) {
	if id == nil {
		return nil, nil
	}
	return loaders.For(ctx).Team(ctx, *id)
}

// uncounted is ctx for ent's Paginate of a user's accessible-list
// connection, with the connection's selection cut to its edges: Paginate
// counts every row in reach when totalCount or pageInfo is asked for
// (100,000 rows for a GLOBAL user at 100x); cut, it still fetches first+1
// rows (hasNextPage) and the caller takes totalCount from the cache
// (cachedCount). counted says whether totalCount was asked for.
func uncounted(ctx context.Context) (paged context.Context, counted bool) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil {
		return ctx, true
	}
	var edges ast.SelectionSet
	paging := false
	for _, f := range graphql.CollectFields(graphql.GetOperationContext(ctx), fc.Field.Selections, nil) {
		switch f.Name {
		case "edges":
			edges = append(edges, f.Field)
		case "totalCount":
			counted = true
		case "pageInfo":
			paging = true
		}
	}
	if paging && len(edges) == 0 {
		// Paginate reads no rows without edges: its count is what tells
		// hasNextPage then.
		return ctx, counted
	}
	cut := *fc
	cut.Field.Selections = edges
	paged = graphql.WithFieldContext(ctx, &cut)
	cut.Parent = fc.Parent // the same place in the response, for error paths
	return paged, counted
}

// viewerTotal is the totalCount of an unfiltered connection: how many
// objects of the kind the viewer may read. A GLOBAL viewer reads them all,
// and their cached scope summary already counts them (from the catalog's
// size); reading the catalog's whole ID list only to count it decoded every
// ID on every page (100,000 at 100x: a fifth of the CPU of a GLOBAL
// viewer's web-app traffic).
func viewerTotal[T any](ctx context.Context, kind items[T], viewerID int,
	ids func(context.Context, int) ([]int, error), fromSummary func(answers.ScopeSummary) int) (int, error) {
	reach, err := reqctx.ReachFromContext(ctx)
	if err != nil {
		return 0, err
	}
	if !reach.Global {
		list, err := ids(ctx, viewerID)
		return cachedCount(ctx, kind, list, err)
	}
	if !kind.canRead(reach, 0) { // everywhere or nowhere: the permission decides
		return 0, nil
	}
	sum, err := loaders.For(ctx).ScopeSummary(ctx, viewerID)
	return fromSummary(sum), err
}

// cachedCount is a connection's totalCount from the user's cached IDs: how
// many of them the viewer may read (a GLOBAL viewer with the permission to
// read them: all of them).
func cachedCount[T any](ctx context.Context, kind items[T], ids []int, err error) (int, error) {
	if err != nil {
		return 0, err
	}
	reach, err := reqctx.ReachFromContext(ctx)
	if err != nil {
		return 0, err
	}
	if reach.Global && len(ids) > 0 {
		// Everywhere or nowhere: the permission decides, not the ID.
		if kind.canRead(reach, ids[0]) {
			return len(ids), nil
		}
		return 0, nil
	}
	n := 0
	for _, id := range ids {
		if kind.canRead(reach, id) {
			n++
		}
	}
	return n, nil
}
