package graph

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"strings"

	"authz-gateway/apperr"
	"authz-gateway/ent"
	"authz-gateway/ent/privacy"
	"authz-gateway/reqctx"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// PresentError is the one place errors become client-visible. Every error
// leaves with an extensions.code from apperr; anything not deliberately coded
// is logged with the request ID and shown as INTERNAL without detail.
func PresentError(ctx context.Context, err error) *gqlerror.Error {
	gqlErr := graphql.DefaultErrorPresenter(ctx, err)
	code, message := classify(ctx, err, gqlErr)
	if code == apperr.Internal {
		slog.ErrorContext(ctx, "internal error", "request_id", reqctx.RequestIDFromContext(ctx),
			"path", gqlErr.Path.String(), "err", err)
		message = "internal error"
	}
	gqlErr.Message = message
	if gqlErr.Extensions == nil {
		gqlErr.Extensions = map[string]any{}
	}
	gqlErr.Extensions["code"] = string(code)
	if id := reqctx.RequestIDFromContext(ctx); id != "" && code == apperr.Internal {
		gqlErr.Extensions["requestId"] = id
	}
	return gqlErr
}

// classify picks the code and the client-safe message of err.
func classify(ctx context.Context, err error, gqlErr *gqlerror.Error) (apperr.Code, string) {
	var coded *apperr.Error
	switch {
	case errors.As(err, &coded):
		return coded.Code, apperr.MessageOf(coded)
	case ent.IsNotFound(err):
		return apperr.NotFound, "not found"
	case errors.Is(err, privacy.Deny):
		return apperr.Forbidden, "forbidden"
	case errors.Is(err, context.DeadlineExceeded), isConnectionError(err):
		return apperr.Unavailable, "the database is unavailable or too slow; try again"
	case isCancelledStatement(err) && errors.Is(ctx.Err(), context.DeadlineExceeded):
		// PostgreSQL cancelled the statement because the request's deadline
		// passed: the request ran out of time, nothing broke.
		return apperr.Unavailable, msgRanOutOfTime
	case errors.Is(err, context.Canceled):
		return apperr.Internal, ""
	}
	switch code, _ := gqlErr.Extensions["code"].(string); code {
	case string(apperr.NotFound), string(apperr.BadUserInput), string(apperr.Forbidden), string(apperr.Unauthenticated),
		string(apperr.RateLimited), string(apperr.Unavailable):
		// Already one of ours (entgql's node-not-found, the document guard).
		return apperr.Code(code), gqlErr.Message
	case "GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED", "COMPLEXITY_LIMIT_EXCEEDED",
		"PERSISTED_QUERY_NOT_FOUND", "PERSISTED_QUERY_NOT_SUPPORTED":
		return apperr.BadUserInput, gqlErr.Message
	}
	if isArgumentError(ctx) || isRequestError(ctx, err) {
		return apperr.BadUserInput, clientMessage(gqlErr.Message)
	}
	return apperr.Internal, ""
}

// maxMessage bounds a message built from the client's input.
const maxMessage = 300

// clientMessage is a client error's message without the request echoed back:
// gqlgen appends the whole body to JSON decoding errors.
func clientMessage(msg string) string {
	if before, _, found := strings.Cut(msg, " body:"); found {
		msg = before
	}
	if len(msg) > maxMessage {
		msg = strings.ToValidUTF8(msg[:maxMessage], "") + "..."
	}
	return msg
}

// isConnectionError reports whether err says the database could not be
// reached or stopped answering (refused, reset, timed out, a dead pooled
// connection): the client should retry, nothing is wrong with its request.
func isConnectionError(err error) bool {
	var netErr net.Error
	return errors.As(err, &netErr) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone)
}

// isCancelledStatement reports a statement the database cancelled at the
// driver's request (SQLSTATE 57014, query_canceled: lib/pq cancels the
// running statement when its context ends).
func isCancelledStatement(err error) bool {
	var state interface{ SQLState() string }
	return errors.As(err, &state) && state.SQLState() == "57014"
}

// isArgumentError reports whether the error arose while gqlgen was decoding
// the current field's arguments: that happens before the field context gets
// its Args, while resolver errors come after. Decoding errors are the
// client's (a malformed cursor, an unknown enum value in a variable).
func isArgumentError(ctx context.Context) bool {
	fc := graphql.GetFieldContext(ctx)
	return fc != nil && fc.Args == nil && fc.Field.Field != nil && len(fc.Field.Arguments) > 0
}

// isRequestError reports whether gqlgen reported err before execution,
// outside any field: decoding the request itself (malformed JSON, a body that
// is not an object). Everything the gateway does runs inside a field.
func isRequestError(ctx context.Context, err error) bool {
	var gqlErr *gqlerror.Error
	return errors.As(err, &gqlErr) && graphql.GetFieldContext(ctx) == nil && graphql.GetRootFieldContext(ctx) == nil
}

// Recover turns a resolver panic into an internal error, logging the stack.
func Recover(ctx context.Context, p any) error {
	slog.ErrorContext(ctx, "panic in resolver", "request_id", reqctx.RequestIDFromContext(ctx),
		"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
	return errors.New("internal error")
}
