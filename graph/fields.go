package graph

import (
	"context"

	"authz-gateway/apperr"
	"authz-gateway/authz"
	"authz-gateway/ent"
	"authz-gateway/graph/model"

	"github.com/99designs/gqlgen/graphql"
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

// readableIDs keeps the IDs the viewer may read: a user's accessible objects
// are shown only where they are also in the viewer's own reach.
func readableIDs(ids []int, can func(int) bool) []int {
	out := make([]int, 0, len(ids))
	for _, id := range ids {
		if can(id) {
			out = append(out, id)
		}
	}
	return out
}

// SelectsOnlyID reports whether the current list field asks its items for
// nothing but id (and __typename). Then the items are built from the cached
// IDs alone, with no database query: `accessibleProjects { id }` is answered
// from the cache.
func SelectsOnlyID(ctx context.Context, typeName string) bool {
	for _, f := range graphql.CollectFieldsCtx(ctx, []string{typeName, "Node"}) {
		if f.Name != "id" && f.Name != "__typename" {
			return false
		}
	}
	return true
}

// ProgramStubs and ProjectStubs are items carrying only their ID.
func ProgramStubs(ids []int) []*ent.Program {
	out := make([]*ent.Program, len(ids))
	for i, id := range ids {
		out[i] = &ent.Program{ID: id}
	}
	return out
}

// ProjectStubs: see ProgramStubs.
func ProjectStubs(ids []int) []*ent.Project {
	out := make([]*ent.Project, len(ids))
	for i, id := range ids {
		out[i] = &ent.Project{ID: id}
	}
	return out
}

// directScopes turns the cached direct scopes into assignment objects.
func directScopes(ds []authz.DirectScope) []*ent.ScopeAssignment {
	out := make([]*ent.ScopeAssignment, len(ds))
	for i, d := range ds {
		out[i] = &ent.ScopeAssignment{
			ID: d.ID, UserID: d.UserID, ScopeType: d.ScopeType,
			ProgramID: d.ProgramID, ProjectID: d.ProjectID, Active: true,
		}
	}
	return out
}

func scopeInput(in *model.AssignScopeInput) authz.ScopeInput {
	return authz.ScopeInput{UserID: in.UserID, ScopeType: in.ScopeType, ProgramID: in.ProgramID, ProjectID: in.ProjectID}
}
