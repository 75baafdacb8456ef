package graph

import (
	"context"
	"strings"

	"authz-gateway/apperr"
	"authz-gateway/reqctx"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"
)

// documentGuard bounds the work of a request before gqlgen parses and
// validates it: validation compares same-named fields pairwise (quadratic in
// their number) and a naive depth walk follows every fragment spread on every
// path (exponential in nesting), so both must be refused on a document
// measured cheaply first. It rejects documents over the token limit, with
// too many field selections, too deep, with too many aliases, or carrying a
// NUL character. Each fragment is measured once, whatever the number of
// spreads; a fragment cycle measures as empty (validation rejects it).
// Accepted documents are remembered, so a repeated query costs a lookup.
type documentGuard struct {
	limits   Limits
	accepted graphql.Cache[struct{}]
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
} = documentGuard{}

// Documents refused before execution (the guard, the complexity limit) are
// the client's to fix: gqlgen answers them 422, like parse and validation
// failures, when their code is registered as a protocol error.
func init() { errcode.RegisterErrorType(string(apperr.BadUserInput), errcode.KindProtocol) }

func newDocumentGuard(limits Limits) documentGuard {
	return documentGuard{limits: limits, accepted: lru.New[struct{}](1000)}
}

func (documentGuard) ExtensionName() string { return "DocumentGuard" }

func (documentGuard) Validate(graphql.ExecutableSchema) error { return nil }

func (g documentGuard) MutateOperationParameters(ctx context.Context, p *graphql.RawParams) *gqlerror.Error {
	if hasNUL(p.Variables) {
		return limitError("variables must not contain NUL characters")
	}
	if p.Query == "" {
		// No document (and no persisted one): the request's parameters are
		// invalid, which GraphQL over HTTP answers 400 (gqlgen's own error
		// follows).
		markMalformed(ctx)
		return nil
	}
	if _, ok := g.accepted.Get(ctx, p.Query); ok {
		return nil
	}
	if strings.ContainsRune(p.Query, 0) {
		return limitError("the query must not contain NUL characters")
	}
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: p.Query}, g.limits.MaxTokens)
	if err != nil {
		return nil // gqlgen parses again and reports the syntax error or the token limit
	}
	if gqlErr := g.check(measureDocument(doc)); gqlErr != nil {
		return gqlErr
	}
	g.accepted.Add(ctx, p.Query, struct{}{})
	return nil
}

func (g documentGuard) check(m shape) *gqlerror.Error {
	switch {
	case m.fields > g.limits.MaxFields:
		return limitError("query selects %d fields; the limit is %d", m.fields, g.limits.MaxFields)
	case m.depth > g.limits.MaxDepth:
		return limitError("query depth %d exceeds the limit of %d", m.depth, g.limits.MaxDepth)
	case m.aliases > g.limits.MaxAliases:
		return limitError("query uses %d aliases; the limit is %d", m.aliases, g.limits.MaxAliases)
	}
	return nil
}

func limitError(format string, args ...any) *gqlerror.Error {
	err := gqlerror.Errorf(format, args...)
	err.Extensions = map[string]any{"code": string(apperr.BadUserInput)}
	return err
}

// shape is what a document asks for: the deepest selection, the aliases
// (fields named other than their field) and the field selections, each
// fragment counted once.
type shape struct{ depth, aliases, fields int }

// measureDocument measures every operation and fragment of doc once.
func measureDocument(doc *ast.QueryDocument) shape {
	m := measurer{doc: doc, fragments: map[string]*shape{}}
	for _, f := range doc.Fragments {
		m.fragmentDepth(f.Name)
	}
	var total shape
	for _, op := range doc.Operations {
		s := m.selections(op.SelectionSet)
		total.depth = max(total.depth, s.depth)
		total.aliases += s.aliases
		total.fields += s.fields
	}
	// Fragments count once each, spread or not (gqlgen merges repeated
	// spreads, and validation visits every definition).
	for _, f := range m.fragments {
		total.aliases += f.aliases
		total.fields += f.fields
	}
	return total
}

type measurer struct {
	doc       *ast.QueryDocument
	fragments map[string]*shape // nil while being measured: a cycle
}

func (m measurer) selections(set ast.SelectionSet) shape {
	var s shape
	for _, sel := range set {
		switch sel := sel.(type) {
		case *ast.Field:
			child := m.selections(sel.SelectionSet)
			s.depth = max(s.depth, child.depth+1)
			s.fields += child.fields + 1
			s.aliases += child.aliases
			if sel.Alias != "" && sel.Alias != sel.Name {
				s.aliases++
			}
		case *ast.InlineFragment:
			child := m.selections(sel.SelectionSet)
			s.depth = max(s.depth, child.depth)
			s.fields += child.fields
			s.aliases += child.aliases
		case *ast.FragmentSpread:
			s.depth = max(s.depth, m.fragmentDepth(sel.Name))
		}
	}
	return s
}

// fragmentDepth measures a fragment the first time it is spread and returns
// its depth; its fields and aliases are added once, by measureDocument.
func (m measurer) fragmentDepth(name string) int {
	if f, seen := m.fragments[name]; seen {
		if f == nil {
			return 0 // a cycle
		}
		return f.depth
	}
	def := m.doc.Fragments.ForName(name)
	if def == nil {
		return 0
	}
	m.fragments[name] = nil
	f := m.selections(def.SelectionSet)
	m.fragments[name] = &f
	return f.depth
}

// hasNUL reports whether any string in the variables holds a NUL character,
// which PostgreSQL cannot store: a client's mistake, not an internal error.
func hasNUL(v any) bool {
	switch v := v.(type) {
	case string:
		return strings.ContainsRune(v, 0)
	case map[string]any:
		for k, x := range v {
			if strings.ContainsRune(k, 0) || hasNUL(x) {
				return true
			}
		}
	case []any:
		for _, x := range v {
			if hasNUL(x) {
				return true
			}
		}
	}
	return false
}

// MaxPersistedQueryBytes bounds a query stored as a persisted query.
const MaxPersistedQueryBytes = 16 << 10

// validatedQueries is the persisted-query store as clients may write it: a
// query is stored only for an authenticated viewer (an anonymous client
// could otherwise fill the store from any address), only if it is small,
// passes the document guard and validates against the schema, so nobody
// can park arbitrary text in Redis. The store itself bounds its number
// and bytes.
type validatedQueries struct {
	graphql.Cache[string]
	guard  documentGuard
	schema *ast.Schema
}

func (v validatedQueries) Add(ctx context.Context, hash, query string) {
	if _, ok := reqctx.ViewerFromContext(ctx); !ok {
		return
	}
	if len(query) > MaxPersistedQueryBytes || strings.ContainsRune(query, 0) {
		return
	}
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: query}, v.guard.limits.MaxTokens)
	if err != nil || v.guard.check(measureDocument(doc)) != nil {
		return
	}
	if errs := validator.ValidateWithRules(v.schema, doc, nil); len(errs) > 0 {
		return
	}
	v.Cache.Add(ctx, hash, query)
}

// singleStream refuses a subscription with more than one root field (the
// GraphQL specification's rule, which an alias can slip past the
// validator): it is the client's mistake, answered before execution.
type singleStream struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = singleStream{}

func (singleStream) ExtensionName() string { return "SingleStream" }

func (singleStream) Validate(graphql.ExecutableSchema) error { return nil }

func (singleStream) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil || oc.Operation.Operation != ast.Subscription {
		return nil
	}
	if n := len(graphql.CollectFields(oc, oc.Operation.SelectionSet, []string{"Subscription"})); n != 1 {
		return limitError("a subscription selects exactly one root field (this one selects %d)", n)
	}
	return nil
}
