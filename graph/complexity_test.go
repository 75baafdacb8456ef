package graph

import (
	"context"
	"strings"
	"testing"

	"authz-gateway/apperr"

	"github.com/stretchr/testify/assert"
	"github.com/vektah/gqlparser/v2/ast"
)

// pricedByArguments are the lists whose length the arguments say.
var pricedByArguments = map[string]bool{"Query.nodes": true, "Mutation.bulkAssignScopes": true}

// Every list of objects in the schema has a price (issue 17: lists priced
// at 10 let cycles through Program.projects build a million nodes): a
// connection by its page, a list by its arguments, and every other list by
// listPrices. A new list field without one fails here.
func TestComplexity_EveryListIsPriced(t *testing.T) {
	es := NewSchema(Services{})
	schema := es.Schema()
	for name, def := range schema.Types {
		if def.BuiltIn || strings.HasPrefix(name, "__") || (def.Kind != ast.Object && def.Kind != ast.Interface) {
			continue
		}
		for _, f := range def.Fields {
			field := name + "." + f.Name
			target := schema.Types[f.Type.Name()]
			switch {
			case strings.HasPrefix(f.Name, "__") || target == nil || target.Kind == ast.Scalar || target.Kind == ast.Enum:
			case f.Type.Elem != nil && strings.HasSuffix(name, "Connection") && f.Name == "edges":
				// priced by the connection's page
			case f.Type.Elem != nil:
				_, listed := listPrices[field]
				assert.True(t, listed || pricedByArguments[field], "%s is a list without a price", field)
			case strings.HasSuffix(target.Name, "Connection"):
				cost, ok := es.Complexity(context.Background(), name, f.Name, 7, map[string]any{"first": 3})
				// Its page, and the statements it runs once per parent.
				assert.True(t, ok && cost == statementCost+7*3, "%s is a connection priced by its page and statements (got %d)", field, cost)
			}
		}
	}
	for field := range listPrices {
		typeName, fieldName, _ := strings.Cut(field, ".")
		assert.NotNil(t, schema.Types[typeName].Fields.ForName(fieldName), "%s is priced but not in the schema", field)
	}
}

// Once the request's deadline has passed, no field resolves.
func TestStopAtDeadline(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ran := 0
	next := func(context.Context) (any, error) { ran++; return "value", nil }
	v, err := StopAtDeadline(ctx, next)
	assert.Equal(t, "value", v)
	assert.NoError(t, err)
	cancel()
	_, err = StopAtDeadline(ctx, next)
	assert.Equal(t, apperr.Unavailable, apperr.CodeOf(err))
	assert.Equal(t, 1, ran, "the field after the deadline did not run")
}
