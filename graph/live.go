package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"sync"

	"authz-gateway/apperr"
	"authz-gateway/graph/model"
	"authz-gateway/loaders"
	"authz-gateway/reqctx"
)

// MaxSubscriptionsPerViewer bounds a viewer's accessChanged subscriptions on
// one instance: each holds a connection and recomputes on every change.
const MaxSubscriptionsPerViewer = 5

// subscriptionCounts counts the open subscriptions per viewer.
type subscriptionCounts struct {
	mu     sync.Mutex
	byUser map[int]int
}

func (c *subscriptionCounts) acquire(userID int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byUser == nil {
		c.byUser = make(map[int]int)
	}
	if c.byUser[userID] >= MaxSubscriptionsPerViewer {
		return false
	}
	c.byUser[userID]++
	return true
}

func (c *subscriptionCounts) release(userID int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byUser[userID]--; c.byUser[userID] <= 0 {
		delete(c.byUser, userID)
	}
}

// accessChanged streams the viewer's access: now, then after every
// delivered change that can affect it (freshness.Log.WatchUser), each push computed
// afresh as a new request would (its own loaders and memo, through the
// cache, after this instance's L1 dropped the change). A push identical to
// the previous one is skipped; a slow client only ever has the newest one
// waiting. The stream ends when the viewer is deactivated or removed.
func (r *Resolver) accessChanged(ctx context.Context) (<-chan *model.AccessSnapshot, error) {
	if err := reqctx.RequireViewer(ctx); err != nil {
		return nil, err
	}
	v, _ := reqctx.ViewerFromContext(ctx)
	if !r.subscriptions.acquire(v.UserID) {
		return nil, apperr.Errorf(apperr.RateLimited, "at most %d accessChanged subscriptions per viewer", MaxSubscriptionsPerViewer)
	}
	signals, stop := r.log.WatchUser(v.UserID)
	out := make(chan *model.AccessSnapshot, 1)
	go func() {
		defer close(out)
		defer stop()
		defer r.subscriptions.release(v.UserID)
		var last []byte
		for {
			snap, active, err := r.snapshot(ctx, v.UserID)
			switch {
			case err != nil && ctx.Err() != nil:
				return
			case err != nil:
				slog.WarnContext(ctx, "accessChanged: computing a push failed; retrying on the next change", "user", v.UserID, "err", err)
			case !active:
				return
			default:
				if b, err := json.Marshal(snap); err == nil && !bytes.Equal(b, last) {
					last = b
					offer(out, snap)
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-signals:
			}
		}
	}()
	return out, nil
}

// offer sends snap, replacing an older push the client has not taken yet.
// The stream's goroutine is the only sender, so the second send cannot block.
func offer(out chan *model.AccessSnapshot, snap *model.AccessSnapshot) {
	select {
	case out <- snap:
		return
	default:
	}
	select {
	case <-out:
	default:
	}
	out <- snap
}

// snapshot computes userID's access as a fresh request would; active is
// false once the user is deactivated or gone.
func (r *Resolver) snapshot(ctx context.Context, userID int) (snap *model.AccessSnapshot, active bool, err error) {
	ctx = loaders.NewContext(ctx, loaders.New(r.db, r.answers, 0))
	ctx, user, err := r.authz.ResolveViewer(ctx, userID)
	if err != nil || user == nil {
		return nil, false, err
	}
	l := loaders.For(ctx)
	reach, err := reqctx.ReachFromContext(ctx)
	if err != nil {
		return nil, true, err
	}
	perms, err := l.Permissions(ctx, userID)
	if err != nil {
		return nil, true, err
	}
	programs, err := l.AccessibleProgramIDs(ctx, userID)
	if err != nil {
		return nil, true, err
	}
	projects, err := l.AccessibleProjectIDs(ctx, userID)
	if err != nil {
		return nil, true, err
	}
	sum, err := l.ScopeSummary(ctx, userID)
	if err != nil {
		return nil, true, err
	}
	visible, err := visibleSummary(ctx, userID, sum)
	if err != nil {
		return nil, true, err
	}
	return &model.AccessSnapshot{
		Permissions:        perms,
		AccessiblePrograms: objectRefs(readableIDs(programs, reach.CanReadProgram)),
		AccessibleProjects: objectRefs(readableIDs(projects, reach.CanReadProject)),
		ScopeSummary:       visible,
	}, true, nil
}

func objectRefs(ids []int) []*model.AccessibleObject {
	out := make([]*model.AccessibleObject, len(ids))
	for i, id := range ids {
		out[i] = &model.AccessibleObject{ID: id}
	}
	return out
}
