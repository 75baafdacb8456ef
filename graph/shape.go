package graph

import (
	"context"

	"authz-gateway/apperr"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// shapeLimit rejects operations that are too deep or use too many aliases
// before anything executes. Depth counts nested selections through fragments;
// the standard introspection query is 13 deep, inside the default of 15.
type shapeLimit struct {
	maxDepth   int
	maxAliases int
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = shapeLimit{}

func (shapeLimit) ExtensionName() string { return "ShapeLimit" }

func (shapeLimit) Validate(graphql.ExecutableSchema) error { return nil }

func (l shapeLimit) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	m := measure(oc.Doc, oc.Operation.SelectionSet)
	if l.maxDepth > 0 && m.depth > l.maxDepth {
		return limitError("query depth %d exceeds the limit of %d", m.depth, l.maxDepth)
	}
	if l.maxAliases > 0 && m.aliases > l.maxAliases {
		return limitError("query uses %d aliases; the limit is %d", m.aliases, l.maxAliases)
	}
	return nil
}

func limitError(format string, args ...any) *gqlerror.Error {
	err := gqlerror.Errorf(format, args...)
	err.Extensions = map[string]any{"code": string(apperr.BadUserInput)}
	return err
}

type shape struct{ depth, aliases int }

// measure walks a selection set. Fragment spreads are followed once per path
// (validation has already rejected cycles).
func measure(doc *ast.QueryDocument, set ast.SelectionSet) shape {
	var s shape
	for _, sel := range set {
		var child shape
		switch sel := sel.(type) {
		case *ast.Field:
			child = measure(doc, sel.SelectionSet)
			child.depth++
			if sel.Alias != "" && sel.Alias != sel.Name {
				child.aliases++
			}
		case *ast.InlineFragment:
			child = measure(doc, sel.SelectionSet)
		case *ast.FragmentSpread:
			if def := doc.Fragments.ForName(sel.Name); def != nil {
				child = measure(doc, def.SelectionSet)
			}
		}
		s.depth = max(s.depth, child.depth)
		s.aliases += child.aliases
	}
	return s
}
