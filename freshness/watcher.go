package freshness

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"authz-gateway/cache"
	"authz-gateway/ent"
	"authz-gateway/ent/accesschange"
	"authz-gateway/ent/accesschangeuser"
	"authz-gateway/quietlog"
	"authz-gateway/reqctx"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/lib/pq"
)

// Positions is what this instance knows about the access-change log, against
// which it judges the cache store before trusting a value from it
// (cache.Config.Accept). It is safe for concurrent use.
type Positions struct {
	// deliveredHead is the highest entry the log says was delivered (learned
	// from this instance's deliveries, notifications and polls).
	deliveredHead atomic.Int64
	// seen is the highest applied position read from the store.
	seen atomic.Int64
	// behind is set while an entry older than the grace is undelivered.
	behind atomic.Bool
	// repair asks the watcher to repair the store.
	repair chan struct{}
}

// NewPositions returns positions that know nothing yet.
func NewPositions() *Positions { return &Positions{repair: make(chan struct{}, 1)} }

// Accept reports whether a store that has applied the log up to applied may
// be trusted. A store behind what the log says was delivered, or behind what
// it showed before, went back in time (a restart from a snapshot, a failover
// to a replica that missed writes, a flush): it is bypassed and repaired. A
// log with an undelivered entry older than the grace (its writer died or
// Redis was unreachable) bypasses the store until the entry is delivered.
func (p *Positions) Accept(applied int64) bool {
	raise(&p.seen, applied)
	if applied < p.deliveredHead.Load() || applied < p.seen.Load() {
		select {
		case p.repair <- struct{}{}:
		default:
		}
		return false
	}
	return !p.behind.Load()
}

func (p *Positions) delivered(id int64) { raise(&p.deliveredHead, id) }

// Current reports whether no change is overdue: the in-process tier answers
// only then (cache.Config.LocalCurrent), as the store does.
func (p *Positions) Current() bool { return !p.behind.Load() }

// raise sets v to to unless v is already further: positions only move forward.
func raise(v *atomic.Int64, to int64) {
	for cur := v.Load(); to > cur && !v.CompareAndSwap(cur, to); cur = v.Load() {
	}
}

// WatchConfig tunes the log watcher.
type WatchConfig struct {
	// DSN, for PostgreSQL, is where to LISTEN for entries as they commit and
	// are delivered; empty (SQLite) polls only.
	DSN string
	// Grace is how long an entry may stay undelivered before the store is
	// distrusted and the entry delivered by this instance (default 250 ms).
	Grace time.Duration
	// Poll is the safety-net interval of reading the log (default 1 s).
	Poll time.Duration
	// Retention prunes delivered entries older than this (default 90 days).
	Retention time.Duration
}

func (c WatchConfig) withDefaults() WatchConfig {
	if c.Grace <= 0 {
		c.Grace = 250 * time.Millisecond
	}
	if c.Poll <= 0 {
		c.Poll = time.Second
	}
	if c.Retention <= 0 {
		c.Retention = 90 * 24 * time.Hour
	}
	return c
}

// WatchLog starts the instance's log watcher: it learns the log's delivered
// head, delivers entries whose writer did not (claimed with SKIP LOCKED, so
// instances share the work), repairs a store that went back in time, and
// prunes old entries. The returned function stops it.
func (l *Log) WatchLog(cfg WatchConfig) (stop func()) {
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(reqctx.NewContextWithSystem(context.Background()))
	w := &watcher{log: l, cfg: cfg, wake: make(chan struct{}, 1), committed: make(map[int64]struct{}), abandoned: make(map[int64]struct{})}
	l.watcher.Store(w)
	var notes <-chan *pq.Notification
	var listener *pq.Listener
	if cfg.DSN != "" {
		// The instance's one listening connection: the log's channel and,
		// in a fleet, the instance's own (fleet.go).
		listener = pq.NewListener(cfg.DSN, 100*time.Millisecond, 5*time.Second, nil)
		l.listener.Store(listener)
		l.listen(NotifyChannel)
		notes = listener.Notify
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		w.run(ctx, notes)
	}()
	go func() {
		defer wg.Done()
		l.fanOut(ctx)
	}()
	return func() {
		cancel()
		wg.Wait()
		if listener != nil {
			l.listener.CompareAndSwap(listener, nil)
			// Not waited for: lib/pq's Close waits for a reconnection under
			// way, whose handshake has no deadline and, on a network that
			// drops packets, never ends; shutting down must not hang on it.
			go func() { _ = listener.Close() }()
		}
	}
}

// listen adds channel to the instance's listening connection (none on
// SQLite: there, and if LISTEN fails, polls stand in).
func (l *Log) listen(channel string) {
	listener := l.listener.Load()
	if listener == nil {
		return
	}
	if err := listener.Listen(channel); err != nil && !errors.Is(err, pq.ErrChannelAlreadyOpen) {
		slog.Warn("access-change log: LISTEN failed; polling only", "channel", channel, "err", err)
	}
}

// polled takes what a fleet renewal read of the log in place of the
// watcher's poll: the delivered head, and whether an entry is overdue (then
// the watcher checks and delivers it now).
func (l *Log) polled(head int64, overdue bool) {
	l.positions.delivered(head)
	w := l.watcher.Load()
	if w == nil {
		return
	}
	if overdue {
		w.wakeNow()
		return
	}
	w.polledAt.Store(time.Now().UnixNano())
}

// grace is how long an entry may stay undelivered before it is overdue.
func (l *Log) grace() time.Duration {
	if w := l.watcher.Load(); w != nil {
		return w.cfg.Grace
	}
	return WatchConfig{}.withDefaults().Grace
}

type watcher struct {
	log  *Log
	cfg  WatchConfig
	wake chan struct{}
	// committed are the entries announced committed and not yet announced
	// delivered: past the grace, one still here is checked for.
	committedMu sync.Mutex
	committed   map[int64]struct{}
	// abandoned are the entries whose writer announced it could not
	// deliver them ("u:<id>"): swept at once, not after the grace, and the
	// store bypassed until they are delivered.
	abandoned map[int64]struct{}
	// polledAt is when a fleet renewal last read the log and found
	// nothing overdue (UnixNano): the poll is not repeated within Poll.
	polledAt atomic.Int64
}

func (w *watcher) run(ctx context.Context, notes <-chan *pq.Notification) {
	w.check(ctx)
	poll := time.NewTicker(w.cfg.Poll)
	defer poll.Stop()
	prune := time.NewTicker(time.Hour)
	defer prune.Stop()
	w.prune(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case n := <-notes:
			w.notified(n)
		case <-w.log.positions.repair:
			w.repair(ctx)
		case <-w.wake:
			w.check(ctx)
		case <-poll.C:
			if time.Since(time.Unix(0, w.polledAt.Load())) >= w.cfg.Poll {
				w.check(ctx)
			}
		case <-prune.C:
			w.prune(ctx)
		}
	}
}

// notified reads one notification and hands it to the actor it is for:
// the log's own messages to the watcher (onLogNotice), the fleet's to the
// fleet (fleet.onNotice). nil means the listener reconnected and may have
// missed some: check now.
func (w *watcher) notified(n *pq.Notification) {
	if n == nil {
		w.wakeNow()
		return
	}
	kind, id, rest, ok := parseNotice(n.Extra)
	switch {
	case !ok:
	case kind == "w" || kind == "s":
		if f := w.log.fleet.Load(); f != nil {
			f.onNotice(n.Channel, kind, id, rest)
		}
	default:
		w.onLogNotice(kind, id, rest)
	}
}

// parseNotice splits a notification's payload "<kind>:<id>[:<rest>]".
func parseNotice(payload string) (kind string, id int64, rest string, ok bool) {
	kind, tail, _ := strings.Cut(payload, ":")
	idText, rest, _ := strings.Cut(tail, ":")
	id, err := strconv.ParseInt(idText, 10, 64)
	return kind, id, rest, err == nil
}

// onLogNotice handles the log's messages: "c:<id>" (committed: check once
// it is past the grace), "u:<id>" (its writer could not deliver it: bypass
// the store and deliver it now), "d:<id>[:<affected>]" (delivered: the
// fleet drops whom it names).
func (w *watcher) onLogNotice(kind string, id int64, rest string) {
	switch kind {
	case "c":
		w.overdueAfter(id)
	case "u":
		w.committedMu.Lock()
		w.abandoned[id] = struct{}{}
		w.committedMu.Unlock()
		w.log.positions.behind.Store(true)
		w.wakeNow()
	case "d":
		w.committedMu.Lock()
		delete(w.committed, id)
		delete(w.abandoned, id)
		w.committedMu.Unlock()
		if f := w.log.fleet.Load(); f != nil && rest != "" {
			if users, all, ok := parseAffected(rest); ok {
				f.droppedOnNotice(int(id), users, all)
			}
		}
		w.log.positions.delivered(id)
		w.log.live.delivered(int(id))
	}
}

// overdueAfter checks the log once the grace has passed since entry id was
// announced committed, unless its delivery was announced before that (the
// usual case: then the check, a statement on every instance per write,
// would find nothing).
func (w *watcher) overdueAfter(id int64) {
	w.committedMu.Lock()
	w.committed[id] = struct{}{}
	w.committedMu.Unlock()
	time.AfterFunc(w.cfg.Grace, func() {
		w.committedMu.Lock()
		_, pending := w.committed[id]
		delete(w.committed, id)
		w.committedMu.Unlock()
		if pending {
			w.wakeNow()
		}
	})
}

func (w *watcher) wakeAfter(d time.Duration) { time.AfterFunc(d, w.wakeNow) }

// wakeNow asks the watcher to check (once, however often it is asked
// before it does).
func (w *watcher) wakeNow() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// check learns the delivered head and delivers what is overdue. While
// anything overdue stays undelivered (the store is unreachable), the store
// is not trusted and the check repeats soon. When nothing is overdue (the
// usual poll), it is one statement.
func (w *watcher) check(ctx context.Context) {
	head, overdue, err := w.read(ctx)
	if err == nil {
		w.log.positions.delivered(head)
	}
	abandoned := w.abandonedIDs()
	if err != nil || overdue || len(abandoned) > 0 {
		overdue, err = w.sweep(ctx, abandoned)
		if err != nil && ctx.Err() == nil {
			quietlog.Warn(ctx, "access-change log: delivering overdue entries", "err", err)
		}
	}
	w.log.positions.behind.Store(overdue)
	if overdue {
		w.wakeAfter(50 * time.Millisecond)
	}
}

// abandonedIDs are the entries announced undeliverable by their writers
// and not yet seen delivered.
func (w *watcher) abandonedIDs() []int {
	w.committedMu.Lock()
	defer w.committedMu.Unlock()
	ids := make([]int, 0, len(w.abandoned))
	for id := range w.abandoned {
		ids = append(ids, int(id))
	}
	return ids
}

func (w *watcher) forgetAbandoned(entries []*ent.AccessChange) {
	ids := make([]int, len(entries))
	for i, e := range entries {
		ids[i] = e.ID
	}
	w.forgetAbandonedIDs(ids)
}

func (w *watcher) forgetAbandonedIDs(ids []int) {
	w.committedMu.Lock()
	defer w.committedMu.Unlock()
	for _, id := range ids {
		delete(w.abandoned, int64(id))
	}
}

// read returns the log's delivered head and whether an entry older than
// the grace is undelivered.
func (w *watcher) read(ctx context.Context) (head int64, overdue bool, err error) {
	param := "?"
	if w.log.postgres {
		param = "$1"
	}
	err = scanRow(ctx, w.log.db, `SELECT COALESCE((SELECT max(id) FROM access_changes WHERE delivered_at IS NOT NULL), 0),
		EXISTS (SELECT 1 FROM access_changes WHERE delivered_at IS NULL AND created_at < `+param+`)`,
		[]any{time.Now().Add(-w.cfg.Grace)}, &head, &overdue)
	if err != nil {
		return 0, true, fmt.Errorf("read the log's head: %w", err)
	}
	return head, overdue, nil
}

// sweep delivers the entries older than the grace, and those abandoned by
// their writers, that are still undelivered, in order, claiming them so
// that one instance does each. It reports whether any such entry is left
// undelivered.
func (w *watcher) sweep(ctx context.Context, abandoned []int) (overdue bool, err error) {
	tx, err := w.log.db.Tx(ctx)
	if err != nil {
		return true, err
	}
	defer func() { _ = tx.Rollback() }()
	overdueAt := time.Now().Add(-w.cfg.Grace)
	due := accesschange.CreatedAtLT(overdueAt)
	if len(abandoned) > 0 {
		due = accesschange.Or(due, accesschange.IDIn(abandoned...))
	}
	q := tx.AccessChange.Query().
		Where(accesschange.DeliveredAtIsNil(), due).
		Order(ent.Asc(accesschange.FieldID)).
		Limit(100)
	if w.log.postgres {
		q = q.ForUpdate(entsql.WithLockAction(entsql.SkipLocked))
	}
	entries, err := q.All(ctx)
	if err != nil {
		return true, err
	}
	if len(entries) == 0 {
		// Nothing this instance can claim; another may be delivering an
		// overdue entry right now (and fail: its Redis may be unreachable).
		// Until it is marked delivered, it is overdue here too.
		left, err := tx.AccessChange.Query().
			Where(accesschange.DeliveredAtIsNil(), due).
			Exist(ctx)
		if err == nil && !left {
			// Delivered elsewhere (its notification missed): forgotten.
			w.forgetAbandonedIDs(abandoned)
		}
		return left || err != nil, err
	}
	if err := w.log.deliverIn(ctx, tx, entries); err != nil {
		return true, err
	}
	if err := tx.Commit(); err != nil {
		return true, err
	}
	w.log.delivered(entries...)
	w.forgetAbandoned(entries)
	return len(entries) == 100, nil
}

// StoreStartsEmpty tells the log that the cache store began empty with this
// process (the in-process store: nothing from before a restart survives in
// it), so it has applied every delivered entry already: its position is
// raised to the log's delivered head. Otherwise the first read would find
// it behind the log and repair it, an invalidate-all entry and a warning on
// every start of the embedded default. Call it before WatchLog.
func (l *Log) StoreStartsEmpty(ctx context.Context) error {
	ids, err := l.db.AccessChange.Query().Where(accesschange.DeliveredAtNotNil()).
		Order(ent.Desc(accesschange.FieldID)).Limit(1).IDs(reqctx.NewContextWithSystem(ctx))
	if err != nil || len(ids) == 0 {
		return err
	}
	if err := l.cache.Invalidate(ctx, cache.Invalidation{Position: int64(ids[0])}); err != nil {
		return fmt.Errorf("the empty store's position: %w", err)
	}
	l.positions.delivered(int64(ids[0]))
	return nil
}

// repair makes a store that went back in time trustworthy again: a log
// entry that invalidates everything, delivered (so its position, past every
// entry before it, becomes the store's applied position), which subsumes
// every entry before it, delivered or not. Being an entry, it also empties
// every instance's L1 and stays in the audit trail.
func (w *watcher) repair(ctx context.Context) {
	head, err := w.log.db.AccessChange.Query().Aggregate(ent.Max(accesschange.FieldID)).Int(ctx)
	if err != nil {
		quietlog.Warn(ctx, "access-change log: repair: reading the head", "err", err)
		return
	}
	// Read before the invalidation: only what had committed by then is
	// subsumed by it.
	pending, err := w.log.db.AccessChange.Query().
		Where(accesschange.DeliveredAtIsNil(), accesschange.IDLTE(head)).All(ctx)
	if err != nil {
		quietlog.Warn(ctx, "access-change log: repair: reading the undelivered", "err", err)
		return
	}
	_, delivered, err := w.log.commit(ctx, "repairCache", func(context.Context, *ent.Tx) (Change, error) {
		return Change{All: true, Target: "every user (the cache store was behind the log)"}, nil
	})
	if err != nil {
		quietlog.Warn(ctx, "access-change log: repair", "err", err)
		w.wakeAfter(50 * time.Millisecond)
		return
	}
	if !delivered {
		return // the sweep delivers the repair and what it would subsume, in order
	}
	slog.Warn("cache store was behind the access-change log (restarted, failed over or flushed); invalidated everything", "head", head)
	if err := w.log.markSubsumed(ctx, pending); err != nil {
		quietlog.Warn(ctx, "access-change log: repair: marking what it subsumed", "err", err)
	}
}

// prune deletes delivered entries older than the retention, a bounded batch
// at a time (a statement takes a bounded number of parameters).
func (w *watcher) prune(ctx context.Context) {
	cutoff := time.Now().Add(-w.cfg.Retention)
	pruned := 0
	for {
		ids, err := w.log.db.AccessChange.Query().
			Where(accesschange.DeliveredAtNotNil(), accesschange.CreatedAtLT(cutoff)).
			Limit(pruneBatch).IDs(ctx)
		if err != nil || len(ids) == 0 {
			break
		}
		if _, err := w.log.db.AccessChangeUser.Delete().Where(accesschangeuser.ChangeIDIn(ids...)).Exec(ctx); err != nil {
			break
		}
		n, err := w.log.db.AccessChange.Delete().Where(accesschange.IDIn(ids...)).Exec(ctx)
		if err != nil {
			break
		}
		pruned += n
	}
	if pruned > 0 {
		slog.Info("access-change log: pruned old entries", "entries", pruned, "before", cutoff)
	}
}

const pruneBatch = 5000
