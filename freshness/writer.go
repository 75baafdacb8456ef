package freshness

// The writer's side of the protocol: a change and its log entry commit in
// one transaction, the writer then delivers its entry itself (delivery.go)
// and waits for the fleet's L1s (fleet.go), or, when its delivery failed,
// for another instance to deliver it. Commit is the one entry point of
// every access change; its callers are the domain's writes (authz's
// mutate), identity provisioning, the expiry watcher's ends (expiry.go)
// and the watcher's repair (watcher.go), which calls commit, Commit
// without the waits: it runs on the watcher, whose deliveries the waits
// may need.

import (
	"authz-gateway/ent"
	"authz-gateway/ent/accesschange"
	"authz-gateway/quietlog"
	"authz-gateway/reqctx"
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"
)

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

// appendChange writes the log entry of a change inside its transaction and,
// on PostgreSQL, announces it when the transaction commits.
func (l *Log) appendChange(ctx context.Context, tx *ent.Tx, op string, c Change) (*ent.AccessChange, error) {
	create := tx.AccessChange.Create().
		SetOperation(op).
		SetTarget(c.Target).
		SetAll(c.All).
		SetUsers(orEmpty(c.Users)).
		SetPrograms(orEmpty(c.Programs)).
		SetProjects(orEmpty(c.Projects)).
		SetTeams(orEmpty(c.Teams)).
		SetGlobalHolders(c.GlobalHolders)
	if c.On.Kind != "" {
		create.SetScopeKind(c.On.Kind).SetScopeID(c.On.ID)
	}
	if v, ok := reqctx.ViewerFromContext(ctx); ok {
		create.SetActorID(v.UserID)
	}
	entry, err := create.Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("append access change: %w", err)
	}
	if err := l.announce(ctx, tx, "c", entry.ID); err != nil {
		return nil, err
	}
	return entry, nil
}

// deliver delivers the writer's own entry, in a transaction of its own.
func (l *Log) deliver(ctx context.Context, entry *ent.AccessChange) error {
	ctx = reqctx.NewContextWithSystem(ctx)
	tx, err := l.db.Tx(ctx)
	if err != nil {
		return fmt.Errorf("deliver: %w", err)
	}
	if err := l.deliverIn(ctx, tx, []*ent.AccessChange{entry}); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("deliver: %w", err)
	}
	l.delivered(entry)
	return nil
}
