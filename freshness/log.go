// Package freshness keeps every cached answer fresh on every instance: the
// access-change log (an entry appended in each write's transaction,
// delivered to the cache after the commit by the writer or, when it could
// not, by any instance's sweep; changelog.go, watch.go), the judgement of a
// store that went back in time and its repair (Positions, watch.go), the
// fleet of in-process tiers with their leases and confirmations (fleet.go),
// and the live fan-out of delivered changes to subscribers (live.go). The
// protocol and the invariants each part keeps are in docs/freshness.md.
//
// It owns the log's SQL, lib/pq's LISTEN and the fleet's statements; the
// authz package keeps the domain and calls Commit for every write.
package freshness

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"authz-gateway/cache"
	"authz-gateway/ent"
	"authz-gateway/ent/accesschange"
	"authz-gateway/internal/quietlog"
	"authz-gateway/reqctx"

	"github.com/lib/pq"
)

// Config assembles a Log.
type Config struct {
	DB    *ent.Client
	Cache *cache.Cache
	// Positions judge the store (the cache's Config.Accept reads them).
	Positions *Positions
	// Postgres: row locks, LISTEN/NOTIFY and the database's clock exist
	// (the embedded SQLite default has none of them, and no fleet).
	Postgres bool
	// OnInvalidateAll runs after this instance delivered a change that
	// invalidates everything (warming starts over).
	OnInvalidateAll func()
	// Holders returns the users whose scopes reach a change's targets (its
	// Programs, Projects and GlobalHolders): the domain's rule of who is
	// affected beyond the users a change names, asked at delivery.
	Holders func(ctx context.Context, db *ent.Client, c Change) ([]int, error)
}

// Log is this instance's side of the freshness protocol.
type Log struct {
	cfg       Config
	db        *ent.Client
	cache     *cache.Cache
	positions *Positions
	postgres  bool
	fleet     atomic.Pointer[fleet] // set by JoinFleet (with an L1)
	watcher   atomic.Pointer[watcher]
	listener  atomic.Pointer[pq.Listener] // PostgreSQL: set by WatchLog
	live      *liveChanges                // accessChanged's watchers
	// expiryWake tells the expiry watcher of a grant with an end.
	expiryWake chan struct{}
}

// New returns the log of cfg. Start it with Watch (and JoinFleet, with an
// L1).
func New(cfg Config) *Log {
	if cfg.Holders == nil {
		// Without the domain's rule nobody's holders are known: every
		// change with targets then affects everyone (never fewer).
		cfg.Holders = func(context.Context, *ent.Client, Change) ([]int, error) {
			return nil, errors.New("no rule for the holders of a change's targets")
		}
	}
	return &Log{cfg: cfg, db: cfg.DB, cache: cfg.Cache, positions: cfg.Positions, postgres: cfg.Postgres, live: newLiveChanges(), expiryWake: make(chan struct{}, 1)}
}

// Change is what one write tells the log: whose cached answers it can
// alter (named users, the holders of scopes on some programs and projects,
// every holder of a GLOBAL scope, or everyone) and what it was about, for
// the audit trail.
type Change struct {
	Users              []int
	Programs, Projects []int
	GlobalHolders      bool
	All                bool
	Target             string
	// On is the narrowest object a viewer must reach to read the entry.
	On Scope
}

// Scope names a program or a project (Kind "program", "project"), or ""
// for nothing narrower than GLOBAL.
type Scope struct {
	Kind string
	ID   int
}

// Commit runs change in a transaction that also appends its entry to the
// log, commits, and only then delivers it (invalidating the users it can
// affect, on this instance's cache and, through the store, everyone's), and
// returns once every other instance's L1 has dropped what it affects or
// stopped answering (fleet.go). Holders of the change's targets are
// collected at delivery, after the commit: anyone who gains a scope on a
// target later invalidates themselves after their own commit, which follows
// ours. A change that deletes targets must collect their holders itself,
// inside the transaction, after locking them (Config.Holders). A delivery that
// fails does not fail the write: the entry stays undelivered in the log,
// this cache bypasses its store until it can invalidate everything, and
// every other instance bypasses the store until some instance has delivered
// the entry (their L1s at once).
func (l *Log) Commit(ctx context.Context, op string, change func(ctx context.Context, tx *ent.Tx) (Change, error)) error {
	ctx = reqctx.NewContextWithSystem(ctx)
	entry, delivered, err := l.commit(ctx, op, change)
	if err != nil {
		return err
	}
	if !delivered {
		// The others would trust the store, which still holds the old
		// answers, until the grace made the entry overdue: the write does
		// not return before someone delivered it (bounded).
		l.awaitDeliveryByAnother(ctx, entry)
	}
	if f := l.fleet.Load(); f != nil {
		f.await(ctx)
	}
	return nil
}

// commit is Commit without the waits: it runs change and appends its
// entry in one transaction, commits, and delivers the entry. It reports
// whether the delivery succeeded (a failed one is logged, not returned).
func (l *Log) commit(ctx context.Context, op string, change func(ctx context.Context, tx *ent.Tx) (Change, error)) (_ *ent.AccessChange, delivered bool, err error) {
	tx, err := l.db.Tx(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("begin transaction: %w", err)
	}
	c, err := change(ctx, tx)
	var entry *ent.AccessChange
	if err == nil {
		entry, err = l.appendChange(ctx, tx, op, c)
	}
	if err != nil {
		if rerr := tx.Rollback(); rerr != nil {
			slog.ErrorContext(ctx, "rollback failed", "err", rerr)
		}
		return nil, false, err
	}
	if err := tx.Commit(); err != nil {
		return nil, false, fmt.Errorf("commit: %w", err)
	}
	if err := l.deliver(ctx, entry); err != nil {
		quietlog.Warn(ctx, "access change undelivered; the log keeps it for any instance to deliver",
			"change", entry.ID, "err", err)
		return entry, false, nil
	}
	return entry, true, nil
}

// MaxDeliveryWait bounds how long a write whose own delivery failed waits
// for another instance to deliver it. Past it every instance that reads
// the log holds the entry overdue (the grace is far shorter) and bypasses
// the store, so returning then shows nobody the old answer either.
const MaxDeliveryWait = 2 * time.Second

// awaitDeliveryByAnother announces that entry could not be delivered here
// ("u:<id>": every instance bypasses the store at once, and the first to
// claim it delivers it without waiting for the grace), then waits until it
// is marked delivered, reading its row at 5 ms doubling to 80 ms, for at
// most MaxDeliveryWait. Like the fleet's wait, neither the request's
// deadline nor a client hanging up cuts it short. Without PostgreSQL there
// is no other instance to wait for.
func (l *Log) awaitDeliveryByAnother(ctx context.Context, entry *ent.AccessChange) {
	if !l.postgres {
		return
	}
	ctx = context.WithoutCancel(ctx)
	if f := l.fleet.Load(); f != nil && f.alone(ctx) {
		// No other instance holds a lease (every instance of a fleet runs
		// with an L1): nobody else reads the store, and this one bypasses
		// it until it can invalidate everything.
		return
	}
	if err := l.announceText(ctx, l.db, "u:"+strconv.Itoa(entry.ID)); err != nil {
		quietlog.Warn(ctx, "access change undelivered: announcing it", "change", entry.ID, "err", err)
	}
	deadline := time.Now().Add(MaxDeliveryWait)
	for wait := 5 * time.Millisecond; time.Now().Before(deadline); wait = min(2*wait, 80*time.Millisecond) {
		time.Sleep(min(wait, time.Until(deadline)))
		readCtx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		delivered, err := l.db.AccessChange.Query().
			Where(accesschange.ID(entry.ID), accesschange.DeliveredAtNotNil()).Exist(readCtx)
		cancel()
		if err == nil && delivered {
			l.positions.delivered(int64(entry.ID))
			return
		}
	}
	quietlog.Warn(ctx, "access change still undelivered after the wait; every instance bypasses the store until it is",
		"change", entry.ID, "waited", MaxDeliveryWait.String())
}

// Union returns a followed by the elements of b that are not in a: the
// users of two changes (or answers) together.
func Union(a, b []int) []int {
	seen := make(map[int]bool, len(a)+len(b))
	out := make([]int, 0, len(a)+len(b))
	for _, v := range slices.Concat(a, b) {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}
