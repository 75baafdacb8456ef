package graph

import (
	"bytes"
	"context"
	"slices"
	"strconv"
	"sync/atomic"

	"authz-gateway/access"
	"authz-gateway/authz"
	"authz-gateway/gate"
	"authz-gateway/graph/scalar"
	"authz-gateway/loaders"
	"authz-gateway/reqctx"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// directSchema answers the questions web clients ask most, a query made of
// nothing but the viewer's own cached answers (`{ me { can(...) } }`,
// `{ me { permissions accessibleProjects { id } } }`), by writing the JSON
// itself instead of running gqlgen's executor, which costs a goroutine and
// a field collection per list element (about 3 µs each: most of the time of
// a long list) and a field context, two middlewares and a goroutine per
// field.
//
// It is the executor's last step, not a way around the pipeline: the request
// was admitted by the gate, parsed, validated and measured against the limits
// like any other, and its answer passes the response middlewares. It answers
// only documents whose every selection it knows (planDirect) and only when
// every value is at hand; anything else, an error included, goes to gqlgen's
// executor, so that the answer, errors and all, is exactly gqlgen's (the
// request's answers are memoized, so the executor finds what the direct
// path read; a lookup that failed is tried once more, as a later field of
// the same request would, within the same deadline).
// TestDirect_AnswersExactlyLikeTheExecutor and FuzzDirect compare the two
// byte for byte.
type directSchema struct {
	graphql.ExecutableSchema
	svc *authz.Service
}

// Exec answers the operation directly when it can (see directSchema).
func (d directSchema) Exec(ctx context.Context) graphql.ResponseHandler {
	oc := graphql.GetOperationContext(ctx)
	plan, ok := planDirect(oc.Operation)
	if !ok {
		return d.ExecutableSchema.Exec(ctx)
	}
	done := false
	return func(ctx context.Context) *graphql.Response {
		if done {
			return nil // a query has one response
		}
		done = true
		if data, ok := d.answer(ctx, oc, plan); ok {
			directAnswers.Add(1)
			return &graphql.Response{Data: data}
		}
		return d.ExecutableSchema.Exec(ctx)(ctx)
	}
}

// directAnswers counts the operations answered directly (for tests: that a
// document takes the path they compare).
var directAnswers atomic.Int64

// The fields the direct path answers: on User (under me) and on the items
// of its lists.
type directKind int

const (
	directTypename directKind = iota
	directID
	directCan
	directHasPermission
	directPermissions
	directPrograms
	directProjects
)

var directUserFields = map[string]directKind{
	"__typename":         directTypename,
	"id":                 directID,
	"can":                directCan,
	"hasPermission":      directHasPermission,
	"permissions":        directPermissions,
	"accessiblePrograms": directPrograms,
	"accessibleProjects": directProjects,
}

var directItemFields = map[string]directKind{"__typename": directTypename, "id": directID}

// directField is one selected field: its response key, what it is, and
// what it selects (me: User fields; a list: its items' fields).
type directField struct {
	key        string
	kind       directKind
	field      *ast.Field
	selections []directField
}

// planDirect returns the me selections of a query the direct path can
// answer: every root field `me`, every field under it one of
// directUserFields, a list's items asking for id and __typename only; no
// fragments, no directives, no response key twice at one level (the
// executor merges those). Anything else: false.
func planDirect(op *ast.OperationDefinition) ([]directField, bool) {
	if op == nil || op.Operation != ast.Query || len(op.Directives) > 0 {
		return nil, false
	}
	roots, ok := directFields(op.SelectionSet, func(f *ast.Field) (directKind, bool) {
		return 0, f.Name == "me" && len(f.Arguments) == 0
	})
	if !ok || len(roots) == 0 {
		return nil, false
	}
	for i := range roots {
		fields, ok := directFields(roots[i].field.SelectionSet, known(directUserFields))
		if !ok {
			return nil, false
		}
		for j := range fields {
			if k := fields[j].kind; k == directPrograms || k == directProjects {
				if fields[j].selections, ok = directFields(fields[j].field.SelectionSet, known(directItemFields)); !ok {
					return nil, false
				}
			}
		}
		roots[i].selections = fields
	}
	return roots, true
}

func known(fields map[string]directKind) func(*ast.Field) (directKind, bool) {
	return func(f *ast.Field) (directKind, bool) {
		kind, ok := fields[f.Name]
		return kind, ok
	}
}

// directFields reads one selection set: plain fields only, each accepted
// by kindOf, each response key once.
func directFields(set ast.SelectionSet, kindOf func(*ast.Field) (directKind, bool)) ([]directField, bool) {
	out := make([]directField, 0, len(set))
	for _, sel := range set {
		f, ok := sel.(*ast.Field)
		if !ok || len(f.Directives) > 0 {
			return nil, false
		}
		kind, ok := kindOf(f)
		if !ok || slices.ContainsFunc(out, func(o directField) bool { return o.key == f.Alias }) {
			return nil, false
		}
		out = append(out, directField{key: f.Alias, kind: kind, field: f})
	}
	return out, true
}

// answer writes the data of a planned operation, or says it cannot (no
// viewer, a deadline passed, an argument or a lookup that fails: the
// executor answers those, with their errors).
func (d directSchema) answer(ctx context.Context, oc *graphql.OperationContext, plan []directField) ([]byte, bool) {
	if ctx.Err() != nil || gate.RequireViewer(ctx) != nil {
		return nil, false
	}
	v, _ := reqctx.ViewerFromContext(ctx)
	l := loaders.For(ctx)
	me, err := l.User(ctx, v.UserID)
	if err != nil || me == nil {
		return nil, false
	}
	// A GLOBAL viewer's lists are the catalog's: both in one batch, as the
	// me resolver's lookahead does (preloadMe).
	var lists []authz.Kind
	for _, root := range plan {
		for _, f := range root.selections {
			if kind, ok := listFields[f.field.Name]; ok {
				lists = append(lists, kind)
			}
		}
	}
	if len(lists) > 0 {
		if err := l.PreloadCatalog(ctx, []int{me.ID}, lists...); err != nil {
			return nil, false
		}
	}
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, root := range plan {
		if i > 0 {
			buf.WriteByte(',')
		}
		writeKey(&buf, root.key)
		buf.WriteByte('{')
		for j, f := range root.selections {
			if j > 0 {
				buf.WriteByte(',')
			}
			writeKey(&buf, f.key)
			if !d.writeUserField(ctx, &buf, oc, me.ID, f) {
				return nil, false
			}
		}
		buf.WriteByte('}')
	}
	buf.WriteByte('}')
	return buf.Bytes(), true
}

// writeUserField writes one field of the viewer's User, as the resolvers
// answer it (schema.resolvers.go).
func (d directSchema) writeUserField(ctx context.Context, buf *bytes.Buffer, oc *graphql.OperationContext, userID int, f directField) bool {
	l := loaders.For(ctx)
	switch f.kind {
	case directTypename:
		buf.WriteString(`"User"`)
	case directID:
		writeID(buf, userID)
	case directCan, directHasPermission:
		args := f.field.ArgumentMap(oc.Variables)
		var p access.Permission
		if p.UnmarshalGQL(args["permission"]) != nil {
			return false
		}
		var yes bool
		if f.kind == directCan {
			on, err := scalar.UnmarshalIntID(args["on"])
			if err != nil {
				return false
			}
			if yes, err = can(ctx, d.svc, userID, p, on); err != nil {
				return false
			}
		} else {
			perms, err := l.Permissions(ctx, userID)
			if err != nil {
				return false
			}
			yes = slices.Contains(perms, p)
		}
		buf.WriteString(strconv.FormatBool(yes))
	case directPermissions:
		perms, err := l.Permissions(ctx, userID)
		if err != nil {
			return false
		}
		buf.WriteByte('[')
		for i, p := range perms {
			if i > 0 {
				buf.WriteByte(',')
			}
			p.MarshalGQL(buf)
		}
		buf.WriteByte(']')
	case directPrograms, directProjects:
		ids, typeName, err := readableList(ctx, l, f.kind, userID)
		if err != nil {
			return false
		}
		buf.WriteByte('[')
		for i, id := range ids {
			if i > 0 {
				buf.WriteByte(',')
			}
			buf.WriteByte('{')
			for j, item := range f.selections {
				if j > 0 {
					buf.WriteByte(',')
				}
				writeKey(buf, item.key)
				if item.kind == directID {
					writeID(buf, id)
				} else {
					buf.WriteString(strconv.Quote(typeName))
				}
			}
			buf.WriteByte('}')
		}
		buf.WriteByte(']')
	default:
		return false
	}
	return true
}

// readableList is a user's accessible programs or projects as the viewer
// may read them (as accessible reads them), and their type's name.
func readableList(ctx context.Context, l *loaders.Loaders, kind directKind, userID int) ([]int, string, error) {
	if kind == directPrograms {
		ids, err := l.AccessibleProgramIDs(ctx, userID)
		ids, err = readableOf(ctx, programItems, ids, err)
		return ids, programItems.typeName, err
	}
	ids, err := l.AccessibleProjectIDs(ctx, userID)
	ids, err = readableOf(ctx, projectItems, ids, err)
	return ids, projectItems.typeName, err
}

// writeKey writes a response key and its colon. Keys are GraphQL names
// ([_A-Za-z][_0-9A-Za-z]*): nothing to escape.
func writeKey(buf *bytes.Buffer, key string) {
	buf.WriteByte('"')
	buf.WriteString(key)
	buf.WriteString(`":`)
}

// writeID writes an ID as scalar.MarshalIntID does: a quoted decimal.
func writeID(buf *bytes.Buffer, id int) {
	buf.WriteByte('"')
	buf.Write(strconv.AppendInt(buf.AvailableBuffer(), int64(id), 10))
	buf.WriteByte('"')
}
