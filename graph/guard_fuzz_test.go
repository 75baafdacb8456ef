package graph

import (
	"testing"
	"time"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

// FuzzMeasureDocument: measuring any document the parser accepts takes
// bounded time (each fragment once, cycles included) and gives a consistent
// shape: every level of depth is a field.
func FuzzMeasureDocument(f *testing.F) {
	for _, seed := range []string{
		`{ me { id } }`,
		`query{...F0} fragment F0 on Query{__typename ...F1 ...F1} fragment F1 on Query{__typename}`,
		`fragment A on User { ...B } fragment B on User { ...A } { me { ...A } }`,
		`{ a: me { b: id } ... on Query { me { roleAssignments { user { id } } } } }`,
		`query Q { me { ...Missing } }`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, query string) {
		doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: query}, DefaultMaxTokens)
		if err != nil {
			return
		}
		start := time.Now()
		s := measureDocument(doc)
		if d := time.Since(start); d > time.Second {
			t.Fatalf("measuring took %s", d)
		}
		if s.depth > s.fields || s.aliases > s.fields || s.depth < 0 {
			t.Fatalf("inconsistent shape %+v", s)
		}
	})
}
