package graph_test

import (
	"context"
	"errors"
	"testing"

	"authz-gateway/apperr"
	"authz-gateway/graph"
	"authz-gateway/reqctx"

	"github.com/stretchr/testify/assert"
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
