package graph

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"

	"authz-gateway/apperr"
	"authz-gateway/ent"
	"authz-gateway/ent/privacy"

	"github.com/99designs/gqlgen/graphql"
	"github.com/stretchr/testify/assert"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Test_classify covers each way an error gets its code: coded errors keep
// theirs, known library errors map to client codes, gqlgen's request and
// argument errors are the client's, and everything else is INTERNAL.
func Test_classify(t *testing.T) {
	inField := graphql.WithFieldContext(context.Background(), &graphql.FieldContext{
		Args:  map[string]any{},
		Field: graphql.CollectedField{Field: &ast.Field{Name: "node"}},
	})
	decodingArgs := graphql.WithFieldContext(context.Background(), &graphql.FieldContext{
		Field: graphql.CollectedField{Field: &ast.Field{Name: "node", Arguments: ast.ArgumentList{{Name: "id"}}}},
	})
	withCode := func(code string) error {
		return &gqlerror.Error{Message: "m", Extensions: map[string]any{"code": code}}
	}
	for _, tc := range []struct {
		name string
		ctx  context.Context
		err  error
		want apperr.Code
	}{
		{"coded", inField, apperr.Errorf(apperr.Forbidden, "no"), apperr.Forbidden},
		{"coded, wrapped", inField, fmt.Errorf("ctx: %w", apperr.Errorf(apperr.NotFound, "gone")), apperr.NotFound},
		{"ent not found", inField, &ent.NotFoundError{}, apperr.NotFound},
		{"privacy deny", inField, privacy.Denyf("no"), apperr.Forbidden},
		{"cancelled", inField, context.Canceled, apperr.Internal},
		{"deadline", inField, context.DeadlineExceeded, apperr.Unavailable},
		{"database unreachable", inField, fmt.Errorf("query: %w", &net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}), apperr.Unavailable},
		{"dead connection", inField, driver.ErrBadConn, apperr.Unavailable},
		{"rate limited", inField, withCode("RATE_LIMITED"), apperr.RateLimited},
		{"already ours", inField, withCode("NOT_FOUND"), apperr.NotFound},
		{"parse failure", inField, withCode("GRAPHQL_PARSE_FAILED"), apperr.BadUserInput},
		{"validation failure", inField, withCode("GRAPHQL_VALIDATION_FAILED"), apperr.BadUserInput},
		{"complexity", inField, withCode("COMPLEXITY_LIMIT_EXCEEDED"), apperr.BadUserInput},
		{"persisted query", inField, withCode("PERSISTED_QUERY_NOT_FOUND"), apperr.BadUserInput},
		{"argument decoding", decodingArgs, errors.New("bad cursor"), apperr.BadUserInput},
		{"request decoding", context.Background(), gqlerror.Errorf("json body could not be decoded"), apperr.BadUserInput},
		{"anything else", inField, errors.New("pq: boom"), apperr.Internal},
		{"unknown code", inField, withCode("SOMETHING"), apperr.Internal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _ := classify(tc.ctx, tc.err, graphql.DefaultErrorPresenter(tc.ctx, tc.err))
			assert.Equal(t, tc.want, code)
		})
	}
}

// Test_classify_NeverEchoesTheBody: an invalid 900 KB body was echoed back
// whole (issue 9, repro 16).
func Test_classify_NeverEchoesTheBody(t *testing.T) {
	body := strings.Repeat("x", 900_000)
	err := gqlerror.Errorf("json request body could not be decoded: invalid character body:%s", body)
	code, msg := classify(context.Background(), err, graphql.DefaultErrorPresenter(context.Background(), err))
	assert.Equal(t, apperr.BadUserInput, code)
	assert.Equal(t, "json request body could not be decoded: invalid character", msg)
	_, msg = classify(context.Background(), gqlerror.Errorf("%s", body), gqlerror.Errorf("%s", body))
	assert.LessOrEqual(t, len(msg), maxMessage+3)
}

// Test_capErrors: a response carries at most MaxErrors errors and a count of
// the rest (issue 9, repro 16).
func Test_capErrors(t *testing.T) {
	var errs gqlerror.List
	for i := range 500 {
		errs = append(errs, gqlerror.Errorf("error %d", i))
	}
	resp := capErrors(context.Background(), func(context.Context) *graphql.Response {
		return &graphql.Response{Errors: errs}
	})
	assert.Len(t, resp.Errors, MaxErrors+1)
	assert.Equal(t, "450 more errors omitted", resp.Errors[MaxErrors].Message)
}
