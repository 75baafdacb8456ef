// Package reqctx carries per-request values through context.Context: the
// authenticated viewer and the request ID. Each value has a NewContextWithX /
// XFromContext pair on an unexported key type, so no other package can collide
// with or forge them.
package reqctx

import (
	"context"
	"errors"

	"authz-gateway/access"
)

type contextKey int

const (
	viewerKey contextKey = iota
	requestIDKey
	systemKey
	reachKey
	authFailureKey
)

// Viewer is the authenticated user a request acts for.
type Viewer struct {
	UserID int
	Email  string
}

// NewContextWithViewer returns ctx carrying v.
func NewContextWithViewer(ctx context.Context, v Viewer) context.Context {
	return context.WithValue(ctx, viewerKey, v)
}

// ViewerFromContext returns the viewer in ctx, if any.
func ViewerFromContext(ctx context.Context) (Viewer, bool) {
	v, ok := ctx.Value(viewerKey).(Viewer)
	return v, ok
}

// NewContextWithRequestID returns ctx carrying the request ID id.
func NewContextWithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey, id)
}

// RequestIDFromContext returns the request ID in ctx, or "".
func RequestIDFromContext(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// NewSystemContext marks ctx as the gateway acting for itself (seeding,
// computing authorization data, finding the users a change affects): reads in
// such a context see every row, whatever the viewer.
func NewSystemContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, systemKey, true)
}

// IsSystem reports whether ctx was made by NewSystemContext.
func IsSystem(ctx context.Context) bool {
	b, _ := ctx.Value(systemKey).(bool)
	return b
}

// ReachFunc returns the viewer's reach. The request's loaders provide it, so it
// is resolved once per request, through the cache.
type ReachFunc func(ctx context.Context) (access.Reach, error)

// ErrNoViewer is returned by ReachFromContext when the request is anonymous.
var ErrNoViewer = errors.New("no authenticated viewer")

// NewContextWithReach returns ctx carrying the viewer's reach resolver.
func NewContextWithReach(ctx context.Context, f ReachFunc) context.Context {
	return context.WithValue(ctx, reachKey, f)
}

// ReachFromContext resolves the viewer's reach, or returns ErrNoViewer.
func ReachFromContext(ctx context.Context) (access.Reach, error) {
	f, ok := ctx.Value(reachKey).(ReachFunc)
	if !ok {
		return access.Reach{}, ErrNoViewer
	}
	return f(ctx)
}

// NewContextWithAuthFailure records why a presented token was rejected, so the
// first field that needs a viewer can say so.
func NewContextWithAuthFailure(ctx context.Context, reason string) context.Context {
	return context.WithValue(ctx, authFailureKey, reason)
}

// AuthFailureFromContext returns the recorded rejection reason, or "".
func AuthFailureFromContext(ctx context.Context) string {
	s, _ := ctx.Value(authFailureKey).(string)
	return s
}
