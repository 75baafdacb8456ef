package graph

import (
	"context"
	"math"

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
	c := costWalker{ctx: ctx, es: l.es, vars: oc.Variables, fragments: map[string]int{}}
	if cost := c.selections(oc.Operation.SelectionSet); cost > l.max {
		return limitError("operation has complexity %d, which exceeds the limit of %d", cost, l.max)
	}
	return nil
}

type costWalker struct {
	ctx       context.Context
	es        graphql.ExecutableSchema
	vars      map[string]any
	fragments map[string]int // cost of each fragment measured so far
}

func (c costWalker) selections(set ast.SelectionSet) int {
	total := 0
	for _, sel := range set {
		switch sel := sel.(type) {
		case *ast.Field:
			total = addSat(total, c.field(sel))
		case *ast.InlineFragment:
			total = addSat(total, c.selections(sel.SelectionSet))
		case *ast.FragmentSpread:
			total = addSat(total, c.fragment(sel))
		}
	}
	return total
}

func (c costWalker) fragment(spread *ast.FragmentSpread) int {
	if cost, ok := c.fragments[spread.Name]; ok {
		return cost
	}
	c.fragments[spread.Name] = 0 // a cycle (refused by validation) costs nothing more
	cost := 0
	if spread.Definition != nil {
		cost = c.selections(spread.Definition.SelectionSet)
	}
	c.fragments[spread.Name] = cost
	return cost
}

func (c costWalker) field(f *ast.Field) int {
	if f.Definition == nil || f.ObjectDefinition == nil {
		return 1
	}
	schema := c.es.Schema()
	def := schema.Types[f.Definition.Type.Name()]
	if def == nil || def.Name == "__Schema" {
		return 0
	}
	child := 0
	if def.Kind == ast.Object || def.Kind == ast.Interface || def.Kind == ast.Union {
		child = c.selections(f.SelectionSet)
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
