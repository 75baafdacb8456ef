package graph

import (
	"time"

	"authz-gateway/access"
	"authz-gateway/apperr"
	"authz-gateway/authz"
	"authz-gateway/ent"
	"authz-gateway/graph/model"

	"entgo.io/contrib/entgql"
)

// MaxPageSize caps first/last of every connection.
const MaxPageSize = 1000

// DefaultPageSize is used when a connection is asked for without first/last,
// so no query can read a whole table by omission.
const DefaultPageSize = 100

// page validates first/last and applies the default page size. Asking for
// both first and last is ambiguous (entgql refuses it deep inside, where it
// would read as an internal error).
func page(first, last *int) (*int, *int, error) {
	if first != nil && last != nil {
		return nil, nil, apperr.Errorf(apperr.BadUserInput, "pass first or last, not both")
	}
	for name, v := range map[string]*int{"first": first, "last": last} {
		if v != nil && (*v < 0 || *v > MaxPageSize) {
			return nil, nil, apperr.Errorf(apperr.BadUserInput, "%s must be between 0 and %d", name, MaxPageSize)
		}
	}
	if first == nil && last == nil {
		n := DefaultPageSize
		first = &n
	}
	return first, last, nil
}

// pageCost is the number of items a connection may return.
func pageCost(first, last *int) int {
	n := DefaultPageSize
	switch {
	case first != nil:
		n = *first
	case last != nil:
		n = *last
	}
	return min(max(n, 1), MaxPageSize)
}

// statementCost is what a field that runs statements of its own costs,
// once per parent it runs under (gqlgen multiplies it by the parents' list
// sizes): a connection's page and count, accessors, explainAccess. Priced
// like a field, `accessors(first: 1)` under a thousand programs' projects
// cost 43,001 and ran ~18,000 statements; at this price the default limit
// (100,000) admits at most 200 such fields in a document, a few hundred
// indexed statements: one request's share of the database.
const statementCost = 500

// paged prices a field that runs its own statements and returns a page.
func paged(child int, first, last *int) int {
	return addSat(statementCost, mulSat(child, pageCost(first, last)))
}

// complexity costs lists by the number of items they can return, so a query's
// complexity approximates the work it asks for; a field that runs its own
// statements costs statementCost besides.
func complexity() ComplexityRoot {
	var c ComplexityRoot
	c.Query.Programs = func(child int, _ *entgql.Cursor[int], first *int, _ *entgql.Cursor[int], last *int, _ *ent.ProgramOrder, _ *ent.ProgramWhereInput) int {
		return paged(child, first, last)
	}
	c.Query.Projects = func(child int, _ *entgql.Cursor[int], first *int, _ *entgql.Cursor[int], last *int, _ *ent.ProjectOrder, _ *ent.ProjectWhereInput) int {
		return paged(child, first, last)
	}
	c.Query.Users = func(child int, _ *entgql.Cursor[int], first *int, _ *entgql.Cursor[int], last *int, _ *ent.UserOrder, _ *ent.UserWhereInput) int {
		return paged(child, first, last)
	}
	c.Query.Teams = func(child int, _ *entgql.Cursor[int], first *int, _ *entgql.Cursor[int], last *int, _ *ent.TeamOrder, _ *ent.TeamWhereInput) int {
		return paged(child, first, last)
	}
	c.Team.Members = func(child int, first *int, _ *entgql.Cursor[int]) int {
		return paged(child, first, nil)
	}
	c.Query.Nodes = func(child int, ids []int) int { return addSat(1, mulSat(child, max(len(ids), 1))) }
	c.Mutation.BulkAssignScopes = func(child int, inputs []*model.AssignScopeInput) int {
		return addSat(1, mulSat(child, max(len(inputs), 1)))
	}
	c.User.AccessibleProgramConnection = func(child int, first *int, _ *entgql.Cursor[int], _ *ent.ProgramOrder) int {
		return paged(child, first, nil)
	}
	c.User.AccessibleProjectConnection = func(child int, first *int, _ *entgql.Cursor[int], _ *ent.ProjectOrder) int {
		return paged(child, first, nil)
	}
	c.Program.Accessors = func(child int, _ access.Permission, first *int, _ *entgql.Cursor[int]) int {
		return paged(child, first, nil)
	}
	c.Project.Accessors = func(child int, _ access.Permission, first *int, _ *entgql.Cursor[int]) int {
		return paged(child, first, nil)
	}
	c.Query.AccessChanges = func(child int, first *int, _ *entgql.Cursor[int], _ *int, _ *time.Time) int {
		return paged(child, first, nil)
	}
	c.Query.ExplainAccess = func(child int, _ int, _ access.Permission, _ int) int { return addSat(statementCost, child) }
	// Each check is a lookup: a thousand checks cost a thousand.
	c.Query.CheckAccess = func(_ int, checks []*authz.Check) int { return max(len(checks), 1) }
	// Lists without `first` are priced by the cost walker (listPrices).
	return c
}
