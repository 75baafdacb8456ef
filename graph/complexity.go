package graph

import (
	"context"
	"math"

	"authz-gateway/access"
	"authz-gateway/authz"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// complexityLimit rejects an operation whose cost exceeds max before it
// executes. It costs fields as gqlgen's complexity package does (the
// schema's complexity functions, interfaces at their most expensive
// implementor), but computes each fragment's cost once per operation:
// gqlgen's walker follows every spread on every path, which takes time
// exponential in fragment nesting. A fragment spread twice still costs
// twice, so such documents are refused as too complex, quickly.
//
// Every list is priced by the most items it can return: a connection by its
// page (first/last), a list taken from arguments by their length, and a
// list without `first` by the largest count it can have (listPrices: the
// catalog's size, or the viewer's own list under `me`). So a cycle such as
// Program.projects -> Project.program -> Program.projects multiplies by the
// largest program at every level, and no accepted document builds more
// than the limit.
type complexityLimit struct {
	max int
	es  graphql.ExecutableSchema
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = complexityLimit{}

func (complexityLimit) ExtensionName() string { return "ComplexityLimit" }

func (complexityLimit) Validate(graphql.ExecutableSchema) error { return nil }

func (l complexityLimit) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	bounds, ok := authz.ViewerListBounds(ctx)
	if !ok {
		bounds = anonymousBounds
	}
	c := costWalker{ctx: ctx, es: l.es, vars: oc.Variables, fragments: map[string]int{}, bounds: bounds}
	if cost := c.selections(oc.Operation.SelectionSet, false); cost > l.max {
		return limitError("operation has complexity %d, which exceeds the limit of %d", cost, l.max)
	}
	return nil
}

// anonymousBounds price lists when there is no viewer (such an operation
// may only introspect: the bounds decide which error it gets).
var anonymousBounds = authz.ListBounds{
	Programs: MaxPageSize, Projects: MaxPageSize, Users: MaxPageSize, LargestProgram: MaxPageSize,
	ViewerPrograms: MaxPageSize, ViewerProjects: MaxPageSize, ViewerScopes: MaxPageSize,
}

// listPrices are the lists without `first`, each with the most items it can
// hold; own is true for the viewer's own object (under `me`, and every
// accessChanged push). A schema test checks that every list of objects is
// priced here, by a page, or by its arguments.
var listPrices = map[string]func(b authz.ListBounds, own bool) int{
	"User.accessiblePrograms": func(b authz.ListBounds, own bool) int { return pick(own, b.ViewerPrograms, b.Programs) },
	"User.accessibleProjects": func(b authz.ListBounds, own bool) int { return pick(own, b.ViewerProjects, b.Projects) },
	"User.roleAssignments":    func(authz.ListBounds, bool) int { return len(access.AllRoleTypes) },
	"User.teams":              func(authz.ListBounds, bool) int { return authz.MaxTeamsPerUser },
	"Team.roleAssignments":    func(authz.ListBounds, bool) int { return len(access.AllRoleTypes) },
	"Team.scopeAssignments":   func(b authz.ListBounds, _ bool) int { return anyScopes(b) },
	// The dashboard's figures: a kind per answer kind, a handful of Redis
	// figures and counters, the ten most recently active users.
	"CacheStats.kinds":       func(authz.ListBounds, bool) int { return 6 },
	"CacheStats.redis":       func(authz.ListBounds, bool) int { return 5 },
	"CacheStats.counters":    func(authz.ListBounds, bool) int { return 3 },
	"CacheStats.activeUsers": func(authz.ListBounds, bool) int { return 10 },
	// One per target, active or not: the viewer's count is not known ahead.
	"User.scopeAssignments":             func(b authz.ListBounds, _ bool) int { return anyScopes(b) },
	"ScopeSummary.directScopes":         func(b authz.ListBounds, own bool) int { return pick(own, b.ViewerScopes, anyScopes(b)) },
	"Program.projects":                  func(b authz.ListBounds, _ bool) int { return b.LargestProgram },
	"AccessChange.affectedUsers":        func(b authz.ListBounds, _ bool) int { return b.Users },
	"Query.roles":                       func(authz.ListBounds, bool) int { return len(access.AllRoleTypes) },
	"AccessExplanation.roles":           func(authz.ListBounds, bool) int { return len(access.AllRoleTypes) },
	"AccessExplanation.scopes":          func(authz.ListBounds, bool) int { return 3 }, // GLOBAL, the program, the project
	"AccessSnapshot.accessiblePrograms": func(b authz.ListBounds, _ bool) int { return b.ViewerPrograms },
	"AccessSnapshot.accessibleProjects": func(b authz.ListBounds, _ bool) int { return b.ViewerProjects },
	"AccessSummary.directScopes":        func(b authz.ListBounds, _ bool) int { return b.ViewerScopes },
}

// ownFields lead from the viewer's own object to another one of its own.
var ownFields = map[string]bool{"Query.me": true, "User.scopeSummary": true, "Subscription.accessChanged": true}

func pick(own bool, viewers, anyones int) int {
	if own {
		return viewers
	}
	return anyones
}

// anyScopes is the most scope assignments a user can hold: GLOBAL and one
// per program and project.
func anyScopes(b authz.ListBounds) int { return 1 + b.Programs + b.Projects }

type costWalker struct {
	ctx       context.Context
	es        graphql.ExecutableSchema
	vars      map[string]any
	fragments map[string]int // cost of each fragment measured so far
	bounds    authz.ListBounds
}

// selections costs a selection set; own says it is of the viewer's own
// object.
func (c costWalker) selections(set ast.SelectionSet, own bool) int {
	total := 0
	for _, sel := range set {
		switch sel := sel.(type) {
		case *ast.Field:
			total = addSat(total, c.field(sel, own))
		case *ast.InlineFragment:
			total = addSat(total, c.selections(sel.SelectionSet, own))
		case *ast.FragmentSpread:
			total = addSat(total, c.fragment(sel, own))
		}
	}
	return total
}

func (c costWalker) fragment(spread *ast.FragmentSpread, own bool) int {
	key := spread.Name
	if own {
		key += "/own" // a fragment costs differently on the viewer's object
	}
	if cost, ok := c.fragments[key]; ok {
		return cost
	}
	c.fragments[key] = 0 // a cycle (refused by validation) costs nothing more
	cost := 0
	if spread.Definition != nil {
		cost = c.selections(spread.Definition.SelectionSet, own)
	}
	c.fragments[key] = cost
	return cost
}

func (c costWalker) field(f *ast.Field, own bool) int {
	if f.Definition == nil || f.ObjectDefinition == nil {
		return 1
	}
	schema := c.es.Schema()
	def := schema.Types[f.Definition.Type.Name()]
	if def == nil || def.Name == "__Schema" {
		return 0
	}
	name := f.ObjectDefinition.Name + "." + f.Name
	childOwn := ownFields[name] && (own || f.ObjectDefinition.Name != "User")
	child := 0
	if def.Kind == ast.Object || def.Kind == ast.Interface || def.Kind == ast.Union {
		child = c.selections(f.SelectionSet, childOwn)
	}
	if price, ok := listPrices[name]; ok {
		return addSat(1, mulSat(child, price(c.bounds, own)))
	}
	args := f.ArgumentMap(c.vars)
	if f.ObjectDefinition.Kind != ast.Interface {
		return c.fieldCost(f.ObjectDefinition.Name, f.Name, child, args)
	}
	most := 0
	for _, impl := range schema.GetPossibleTypes(f.ObjectDefinition) {
		most = max(most, c.fieldCost(impl.Name, f.Name, child, args))
	}
	return most
}

func (c costWalker) fieldCost(typeName, field string, child int, args map[string]any) int {
	if cost, ok := c.es.Complexity(c.ctx, typeName, field, child, args); ok && cost >= 1 {
		return cost
	}
	return addSat(1, child)
}

// addSat and mulSat saturate at the largest int instead of overflowing, so
// no document can wrap its cost around to a small number.
func addSat(a, b int) int {
	if a > math.MaxInt-b {
		return math.MaxInt
	}
	return a + b
}

func mulSat(a, b int) int {
	if a != 0 && b > math.MaxInt/a {
		return math.MaxInt
	}
	return a * b
}
