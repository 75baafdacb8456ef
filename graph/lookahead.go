package graph

import (
	"context"
	"slices"
	"strings"

	"authz-gateway/answers"
	"authz-gateway/ent"
	"authz-gateway/loaders"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// answerKinds says which cached answers a User field needs.
var answerKinds = map[string][]answers.Kind{
	"permissions":                 {answers.KindPermissions},
	"hasPermission":               {answers.KindPermissions},
	"accessiblePrograms":          {answers.KindAccessiblePrograms},
	"accessibleProjects":          {answers.KindAccessibleProjects},
	"scopeSummary":                {answers.KindScopeSummary, answers.KindAccessiblePrograms, answers.KindAccessibleProjects},
	"can":                         {answers.KindPermissions, answers.KindAccessiblePrograms, answers.KindAccessibleProjects, answers.KindScopeSummary},
	"accessibleProgramConnection": {answers.KindPermissions, answers.KindAccessiblePrograms, answers.KindAccessibleProjects, answers.KindScopeSummary},
	"accessibleProjectConnection": {answers.KindPermissions, answers.KindAccessiblePrograms, answers.KindAccessibleProjects, answers.KindScopeSummary},
}

// preloadUsers looks ahead at what a page of users will be asked for and
// loads it for every user at once: their answers in one batch, the
// catalog's lists their GLOBAL answers stand for in one more, then the
// programs and projects those answers name in one batch each. The field
// resolvers then find everything memoized, so the number of SQL statements
// and Redis round trips of a list is the same whatever order the scheduler
// runs them in (a batching window alone splits batches on a busy machine).
func preloadUsers(ctx context.Context, conn *ent.UserConnection) error {
	fields := userFields(ctx)
	if len(fields) == 0 || len(conn.Edges) == 0 {
		return nil
	}
	ids := make([]int, 0, len(conn.Edges))
	for _, e := range conn.Edges {
		ids = append(ids, e.Node.ID)
	}
	var kinds []answers.Kind
	for name := range fields {
		kinds = append(kinds, answerKinds[name]...)
	}
	l := loaders.For(ctx)
	if err := l.PreloadAnswers(ctx, ids, kinds); err != nil {
		return err
	}
	var lists []answers.Kind
	for name, kind := range map[string]answers.Kind{"accessiblePrograms": answers.KindAccessiblePrograms, "accessibleProjects": answers.KindAccessibleProjects} {
		if _, ok := fields[name]; ok {
			lists = append(lists, kind)
		}
	}
	if err := l.PreloadCatalog(ctx, ids, lists...); err != nil {
		return err
	}
	if sel, ok := fields["accessiblePrograms"]; ok && !onlyID(ctx, sel, "Program") {
		if err := l.PreloadPrograms(ctx, ids); err != nil {
			return err
		}
	}
	if sel, ok := fields["accessibleProjects"]; ok && !onlyID(ctx, sel, "Project") {
		return l.PreloadProjects(ctx, ids)
	}
	return nil
}

// userFields returns the User fields selected under edges.node of the
// current connection field, by name.
func userFields(ctx context.Context) map[string]ast.SelectionSet {
	op := graphql.GetOperationContext(ctx)
	out := map[string]ast.SelectionSet{}
	for _, edges := range graphql.CollectFieldsCtx(ctx, nil) {
		if edges.Name != "edges" {
			continue
		}
		for _, node := range graphql.CollectFields(op, edges.Selections, nil) {
			if node.Name != "node" {
				continue
			}
			for _, f := range graphql.CollectFields(op, node.Selections, []string{"User", "Node"}) {
				if _, ok := answerKinds[f.Name]; ok {
					out[f.Name] = append(out[f.Name], f.Selections...)
				}
			}
		}
	}
	return out
}

// onlyID reports whether a list selection asks its items for nothing but id.
func onlyID(ctx context.Context, sel ast.SelectionSet, typeName string) bool {
	for _, f := range graphql.CollectFields(graphql.GetOperationContext(ctx), sel, []string{typeName, "Node"}) {
		if f.Name != "id" && f.Name != "__typename" {
			return false
		}
	}
	return true
}

// listFields are the User fields that read a user's whole list of a kind
// (a connection only for its totalCount).
var listFields = map[string]answers.Kind{
	"accessiblePrograms":          answers.KindAccessiblePrograms,
	"accessibleProjects":          answers.KindAccessibleProjects,
	"accessibleProgramConnection": answers.KindAccessiblePrograms,
	"accessibleProjectConnection": answers.KindAccessibleProjects,
}

// preloadMe looks ahead at me's selection: the catalog's lists a GLOBAL
// viewer's selected lists stand for are loaded together, in one batch.
func preloadMe(ctx context.Context, viewer int) error {
	var kinds []answers.Kind
	op := graphql.GetOperationContext(ctx)
	for _, f := range graphql.CollectFieldsCtx(ctx, []string{"User", "Node"}) {
		kind, ok := listFields[f.Name]
		if !ok {
			continue
		}
		if strings.HasSuffix(f.Name, "Connection") && !slices.ContainsFunc(graphql.CollectFields(op, f.Selections, nil),
			func(c graphql.CollectedField) bool { return c.Name == "totalCount" }) {
			continue
		}
		kinds = append(kinds, kind)
	}
	if len(kinds) == 0 {
		return nil
	}
	return loaders.For(ctx).PreloadCatalog(ctx, []int{viewer}, kinds...)
}
