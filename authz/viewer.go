package authz

import (
	"context"
	"errors"
	"sync"

	"authz-gateway/access"
	"authz-gateway/answers"
	"authz-gateway/ent"
	"authz-gateway/reqctx"
)

// viewerAnswers is the one source of a request's viewer reach: a memo of the
// viewer's answers (the four, and the user's status that authenticated the
// request), fetched together in one cache round trip. The ent
// privacy rules, the @hasPermission directive, the resolvers and the
// service's own checks all read it through reqctx.ReachFromContext, so one
// request sees one reach; mutate forgets it after every commit, so what a
// request does after a write sees the write.
type viewerAnswers struct {
	svc    *Service
	userID int
	user   *ent.User // as ResolveViewer read it (nil: another way in)

	mu   sync.Mutex
	call *answersCall // nil until fetched, and again after forget or a failure
}

// answersCall is one fetch of the viewer's answers, shared by every reader of
// the request that asks while it runs.
type answersCall struct {
	done    chan struct{}
	answers map[answers.Key]answers.Answer
	err     error
}

var _ reqctx.ReachSource = (*viewerAnswers)(nil)

// viewerContext returns ctx with the viewer's reach source, unless it
// already has one (the gate's resolution gave it) or has no viewer: the
// service's Go API works for any context that carries a viewer.
func (s *Service) viewerContext(ctx context.Context) context.Context {
	v, ok := reqctx.ViewerFromContext(ctx)
	if !ok || reqctx.ReachSourceFromContext(ctx) != nil {
		return ctx
	}
	return reqctx.NewContextWithReachSource(ctx, &viewerAnswers{svc: s, userID: v.UserID})
}

// ResolveViewer authenticates a verified token's subject through the cache:
// it fetches the user's status together with the four answers (one round
// trip, kept as the request's memo) and returns ctx carrying the viewer and
// that memo, and the user. An unknown or inactive user comes back nil with
// ctx unchanged; an error means the answer could not be had (the database
// and the store are unavailable).
func (s *Service) ResolveViewer(ctx context.Context, userID int) (context.Context, *ent.User, error) {
	memo := &viewerAnswers{svc: s, userID: userID}
	// The answers are read for the gateway itself (the viewer is not
	// known yet): ctx needs no viewer, and two context layers fewer make
	// every later lookup of the request shorter.
	got, err := memo.get(ctx)
	if err != nil {
		return ctx, nil, err
	}
	st := got[answers.Key{Kind: answers.KindUser, UserID: userID}].User
	if !st.Exists || !st.Active {
		return ctx, nil, nil
	}
	s.active.NoteActive(userID)
	u := &ent.User{ID: userID, Email: st.Email, Name: st.Name, Active: st.Active}
	if st.ExternalID != "" {
		u.ExternalID = &st.ExternalID
	}
	memo.user = u
	viewer := reqctx.NewContextWithViewer(ctx, reqctx.Viewer{UserID: userID, Email: st.Email})
	return reqctx.NewContextWithReachSource(viewer, memo), u, nil
}

// ViewerUser returns the viewer's user row as ResolveViewer read it (the
// request's loaders are primed with it), or nil.
func ViewerUser(ctx context.Context) *ent.User {
	if v := viewerAnswersFrom(ctx); v != nil {
		return v.user
	}
	return nil
}

// ViewerAnswer returns the answer of key from the request's viewer memo when
// key is about the viewer (ok false otherwise): the loaders serve the viewer's
// own fields from it, so `me { permissions }` costs no second round trip.
func ViewerAnswer(ctx context.Context, key answers.Key) (a answers.Answer, ok bool, err error) {
	v := viewerAnswersFrom(ctx)
	if v == nil || v.userID != key.UserID {
		return answers.Answer{}, false, nil
	}
	got, err := v.get(ctx)
	return got[key], true, err
}

// forgetViewer drops the request's memo: the next read fetches anew.
func forgetViewer(ctx context.Context) {
	if v := viewerAnswersFrom(ctx); v != nil {
		v.mu.Lock()
		v.call = nil
		v.mu.Unlock()
	}
}

func viewerAnswersFrom(ctx context.Context) *viewerAnswers {
	v, _ := reqctx.ReachSourceFromContext(ctx).(*viewerAnswers)
	return v
}

// Reach implements reqctx.ReachSource.
func (v *viewerAnswers) Reach(ctx context.Context) (access.Reach, error) {
	got, err := v.get(ctx)
	if err != nil {
		return access.Reach{}, err
	}
	return answers.ReachFromAnswers(v.userID, got), nil
}

// get returns the answers: fetched here, on the caller's goroutine, when
// nobody fetches them yet (the gate's resolution, the usual case: no
// goroutine), else awaited from the fetch under way. A failed fetch is
// forgotten, so a later field of the request tries again rather than
// repeating the error.
func (v *viewerAnswers) get(ctx context.Context) (map[answers.Key]answers.Answer, error) {
	v.mu.Lock()
	c := v.call
	if c == nil {
		c = &answersCall{done: make(chan struct{})}
		v.call = c
		v.mu.Unlock()
		c.answers, c.err = v.svc.answers.Answers(ctx, answers.ViewerKeys(v.userID))
		close(c.done)
	} else {
		v.mu.Unlock()
		select {
		case <-c.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if c.err != nil {
		v.mu.Lock()
		if v.call == c {
			v.call = nil
		}
		v.mu.Unlock()
	}
	return c.answers, c.err
}

// viewerReach returns the reach of the context's viewer, UNAUTHENTICATED
// without one.
func (s *Service) viewerReach(ctx context.Context) (access.Reach, error) {
	reach, err := reqctx.ReachFromContext(s.viewerContext(ctx))
	if errors.Is(err, reqctx.ErrNoViewer) {
		return access.Reach{}, reqctx.RequireViewer(ctx)
	}
	return reach, err
}
