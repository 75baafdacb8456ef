package graph_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"authz-gateway/apperr"
	"authz-gateway/graph"
	"authz-gateway/internal/testenv"
	"authz-gateway/reqctx"

	_ "github.com/lib/pq"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPresentError(t *testing.T) {
	ctx := reqctx.NewContextWithRequestID(context.Background(), "req-1")

	coded := graph.PresentError(ctx, apperr.Errorf(apperr.Forbidden, "missing permission X"))
	assert.Equal(t, "missing permission X", coded.Message)
	assert.Equal(t, "FORBIDDEN", coded.Extensions["code"])

	internal := graph.PresentError(ctx, errors.New("pq: relation \"users\" does not exist"))
	assert.Equal(t, "internal error", internal.Message, "no internals leak")
	assert.Equal(t, "INTERNAL", internal.Extensions["code"])
	assert.Equal(t, "req-1", internal.Extensions["requestId"], "the request ID lets support find the log line")

	wrapped := graph.PresentError(ctx, apperr.Wrap(apperr.NotFound, errors.New("sql: no rows"), "program not found"))
	assert.Equal(t, "program not found", wrapped.Message)

	panicked := graph.PresentError(ctx, graph.Recover(ctx, "boom"))
	assert.Equal(t, "INTERNAL", panicked.Extensions["code"])
	assert.Equal(t, "internal error", panicked.Message)
}

// TestPresentError_StatementCancelledAtTheDeadline: issue 31, finding 10.
// When a request's deadline passes during a statement, lib/pq has
// PostgreSQL cancel it (SQLSTATE 57014); that was logged and answered as
// an internal error. It is the request running out of time: UNAVAILABLE.
func TestPresentError_StatementCancelledAtTheDeadline(t *testing.T) {
	db, err := sql.Open("postgres", testenv.PostgresURL(t))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	ctx, cancel := context.WithTimeout(reqctx.NewContextWithRequestID(context.Background(), "req-2"), 100*time.Millisecond)
	defer cancel()
	_, err = db.ExecContext(ctx, "SELECT pg_sleep(5)")
	require.Error(t, err)
	t.Logf("driver error: %v (deadline exceeded: %t)", err, errors.Is(err, context.DeadlineExceeded))
	presented := graph.PresentError(ctx, fmt.Errorf("list programs: %w", err))
	assert.Equal(t, "UNAVAILABLE", presented.Extensions["code"], "%v", err)
	assert.Contains(t, presented.Message, "ran out of time")
}
