package reqctx

import (
	"context"
	"testing"

	"authz-gateway/apperr"

	"github.com/stretchr/testify/assert"
)

// RequireViewer says why there is no viewer: the refusal the gate
// recorded when a token was presented, else that one is needed; with a
// viewer, nothing.
func TestRequireViewer(t *testing.T) {
	ctx := context.Background()
	assert.Equal(t, ErrAuthenticationRequired, RequireViewer(ctx))
	assert.Equal(t, apperr.Unauthenticated, apperr.CodeOf(RequireViewer(ctx)))

	expired := apperr.Errorf(apperr.Unauthenticated, "token expired")
	assert.Equal(t, expired, RequireViewer(NewContextWithAuthFailure(ctx, expired)))

	assert.NoError(t, RequireViewer(NewContextWithViewer(ctx, Viewer{UserID: 7})))
}

// Without a viewer there is no reach to read; the gateway acting for itself
// is told apart from a viewer.
func TestReachAndSystem(t *testing.T) {
	ctx := context.Background()
	_, err := ReachFromContext(ctx)
	assert.ErrorIs(t, err, ErrNoViewer)
	assert.False(t, SystemFromContext(ctx))
	assert.True(t, SystemFromContext(NewContextWithSystem(ctx)))
}
