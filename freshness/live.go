package freshness

import (
	"context"
	"slices"
	"sync"

	"authz-gateway/cache"
	"authz-gateway/ent/accesschange"
	"authz-gateway/ent/accesschangeuser"
	"authz-gateway/quietlog"
	"authz-gateway/reqctx"
)

// Live access changes: WatchUser tells a subscriber (the accessChanged
// subscription) that a delivered change may have altered a user's answers,
// whichever instance made it. Deliveries arrive from this instance (after
// it marks an entry delivered) and from the others (the log's "d:<id>"
// notifications); a goroutine of the log watcher reads whom each entry
// affected, makes this instance's L1 drop it first, and signals the users'
// watchers. A signal carries nothing: the subscriber recomputes, so it can
// never show an answer older than one it read before.

// liveChanges fans delivered entries out to per-user watchers.
type liveChanges struct {
	mu      sync.Mutex
	byUser  map[int]map[chan struct{}]struct{}
	pending []int
	wake    chan struct{}
	seen    map[int]struct{} // entries already fanned out (local and notified)
}

func newLiveChanges() *liveChanges {
	return &liveChanges{byUser: make(map[int]map[chan struct{}]struct{}), wake: make(chan struct{}, 1), seen: make(map[int]struct{})}
}

// WatchUser returns a channel that receives a signal (coalesced: it holds at
// most one) after every delivered change that can affect userID. stop
// releases it.
func (l *Log) WatchUser(userID int) (signals <-chan struct{}, stop func()) {
	lc := l.live
	ch := make(chan struct{}, 1)
	lc.mu.Lock()
	if lc.byUser[userID] == nil {
		lc.byUser[userID] = make(map[chan struct{}]struct{})
	}
	lc.byUser[userID][ch] = struct{}{}
	lc.mu.Unlock()
	return ch, func() {
		lc.mu.Lock()
		delete(lc.byUser[userID], ch)
		if len(lc.byUser[userID]) == 0 {
			delete(lc.byUser, userID)
		}
		lc.mu.Unlock()
	}
}

// delivered queues entry id for the watchers (nothing when nobody watches).
func (l *liveChanges) delivered(id int) {
	l.mu.Lock()
	if len(l.byUser) == 0 {
		l.mu.Unlock()
		return
	}
	if _, done := l.seen[id]; !done {
		l.pending = append(l.pending, id)
	}
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// fanOut runs until ctx ends: for each batch of delivered entries, this
// instance's L1 drops them, then every watcher they can affect is signalled.
func (l *Log) fanOut(ctx context.Context) {
	lc := l.live
	for {
		select {
		case <-ctx.Done():
			return
		case <-lc.wake:
		}
		lc.mu.Lock()
		ids := lc.pending
		lc.pending = nil
		for _, id := range ids {
			lc.seen[id] = struct{}{}
		}
		if len(lc.seen) > 10_000 {
			clear(lc.seen) // a repeat costs a recomputation that finds nothing new
		}
		lc.mu.Unlock()
		if len(ids) == 0 {
			continue
		}
		users, all, err := l.affectedBy(ctx, ids)
		if err != nil {
			quietlog.Warn(ctx, "live access changes: reading the affected users; signalling everyone", "err", err)
			all = true
		}
		if err := l.ConfirmL1(ctx); err != nil && ctx.Err() == nil {
			quietlog.Warn(ctx, "live access changes: confirming the L1 before signalling", "err", err)
		}
		lc.signal(users, all)
	}
}

// affectedBy reads whom delivered entries affected (affectedUsers), in two
// statements that SQLite answers too.
func (l *Log) affectedBy(ctx context.Context, ids []int) (users []int, all bool, err error) {
	ctx = reqctx.NewContextWithSystem(ctx)
	entries, err := l.db.AccessChange.Query().Where(accesschange.IDIn(ids...)).
		Select(accesschange.FieldAll, accesschange.FieldUsers).All(ctx)
	if err != nil {
		return nil, false, err
	}
	recorded, err := l.db.AccessChangeUser.Query().Where(accesschangeuser.ChangeIDIn(ids...)).All(ctx)
	if err != nil {
		return nil, false, err
	}
	changes := make([]seenChange, len(entries))
	for i, e := range entries {
		changes[i] = seenChange{ID: e.ID, All: e.All, Users: e.Users}
		for _, r := range recorded {
			if r.ChangeID == e.ID {
				changes[i].Affected = append(changes[i].Affected, r.UserID)
			}
		}
	}
	users, all = affectedUsers(changes)
	return users, all, nil
}

func (l *liveChanges) signal(users []int, all bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for user, chans := range l.byUser {
		// The catalog pseudo-user's change alters every GLOBAL viewer's
		// counts: signal everyone rather than find them.
		if !all && !slices.Contains(users, user) && !slices.Contains(users, cache.CatalogUser) {
			continue
		}
		for ch := range chans {
			select {
			case ch <- struct{}{}:
			default: // a signal is pending already
			}
		}
	}
}
