// Package reqctx carries per-request values through context.Context: the
// request ID, the authenticated viewer and the source of the viewer's
// reach, why a presented token was refused, and the mark of the gateway
// acting for itself. Each
// value has a NewContextWithX / XFromContext pair on an unexported key type,
// so no other package can collide with or forge them.
package reqctx

import (
	"context"
	"errors"

	"authz-gateway/access"
	"authz-gateway/apperr"
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

// NewContextWithSystem marks ctx as the gateway acting for itself (seeding,
// computing authorization data, finding the users a change affects): reads in
// such a context see every row, whatever the viewer.
func NewContextWithSystem(ctx context.Context) context.Context {
	return context.WithValue(ctx, systemKey, true)
}

// SystemFromContext reports whether ctx was made by NewContextWithSystem.
func SystemFromContext(ctx context.Context) bool {
	b, _ := ctx.Value(systemKey).(bool)
	return b
}

// ReachSource resolves the viewer's reach for one request. The authz service
// installs the only implementation (its per-request memo of the viewer's
// answers); it lives behind an interface here so that the ent privacy rules
// can read the reach without depending on the service.
type ReachSource interface {
	Reach(ctx context.Context) (access.Reach, error)
}

// ErrNoViewer is returned by ReachFromContext when the request is anonymous.
var ErrNoViewer = errors.New("no authenticated viewer")

// NewContextWithReachSource returns ctx carrying the viewer's reach source.
func NewContextWithReachSource(ctx context.Context, src ReachSource) context.Context {
	return context.WithValue(ctx, reachKey, src)
}

// ReachSourceFromContext returns the reach source in ctx, or nil.
func ReachSourceFromContext(ctx context.Context) ReachSource {
	src, _ := ctx.Value(reachKey).(ReachSource)
	return src
}

// ReachFromContext is how everything reads the viewer's reach (privacy rules,
// directives, resolvers, the service's own checks); ErrNoViewer when the
// request has no reach source (anonymous).
func ReachFromContext(ctx context.Context) (access.Reach, error) {
	src := ReachSourceFromContext(ctx)
	if src == nil {
		return access.Reach{}, ErrNoViewer
	}
	return src.Reach(ctx)
}

// NewContextWithAuthFailure records why a presented token did not
// authenticate (a client-safe, coded error), so the first field that needs a
// viewer can say so.
func NewContextWithAuthFailure(ctx context.Context, err error) context.Context {
	return context.WithValue(ctx, authFailureKey, err)
}

// AuthFailureFromContext returns the recorded failure, or nil.
func AuthFailureFromContext(ctx context.Context) error {
	err, _ := ctx.Value(authFailureKey).(error)
	return err
}

// ErrAuthenticationRequired is what an anonymous caller is told where a
// viewer is needed.
var ErrAuthenticationRequired = apperr.Errorf(apperr.Unauthenticated, "authentication required: send Authorization: Bearer <token>")

// RequireViewer returns nil when ctx has a viewer, and otherwise why not:
// the refusal the gate recorded (a bad token, an unknown user) or
// ErrAuthenticationRequired. Every surface that needs a viewer asks this
// (the GraphQL root fields, subscriptions, sockets, the dashboard, the
// domain's own checks), so they all say the same.
func RequireViewer(ctx context.Context) error {
	if _, ok := ViewerFromContext(ctx); ok {
		return nil
	}
	if err := AuthFailureFromContext(ctx); err != nil {
		return err
	}
	return ErrAuthenticationRequired
}
