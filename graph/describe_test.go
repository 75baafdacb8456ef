package graph_test

import (
	"sort"
	"strings"
	"testing"

	"authz-gateway/graph"

	"github.com/vektah/gqlparser/v2/ast"
)

// undescribed lists every type, field, argument, input field and enum value
// of the schema without a description (built-ins aside).
func undescribed(schema *ast.Schema) []string {
	var missing []string
	need := func(desc, what string) {
		if strings.TrimSpace(desc) == "" {
			missing = append(missing, what)
		}
	}
	for name, def := range schema.Types {
		if def.BuiltIn || strings.HasPrefix(name, "__") {
			continue
		}
		need(def.Description, name)
		for _, f := range def.Fields {
			if strings.HasPrefix(f.Name, "__") {
				continue
			}
			need(f.Description, name+"."+f.Name)
			for _, a := range f.Arguments {
				need(a.Description, name+"."+f.Name+"("+a.Name+")")
			}
		}
		for _, v := range def.EnumValues {
			need(v.Description, name+"."+v.Name)
		}
	}
	for name, d := range schema.Directives {
		if d.Position != nil && d.Position.Src != nil && d.Position.Src.BuiltIn {
			continue
		}
		need(d.Description, "@"+name)
		for _, a := range d.Arguments {
			need(a.Description, "@"+name+"("+a.Name+")")
		}
	}
	sort.Strings(missing)
	return missing
}

// Code generators turn descriptions into the comments of typed clients:
// every element of the schema has one.
func TestSchema_EveryElementIsDescribed(t *testing.T) {
	missing := undescribed(graph.NewSchema(graph.Services{}).Schema())
	if len(missing) > 0 {
		t.Errorf("%d schema elements have no description:\n%s", len(missing), strings.Join(missing, "\n"))
	}
}
