package freshness

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"authz-gateway/cache"
	"authz-gateway/ent"
	"authz-gateway/reqctx"
)

// The access-change log (docs/design.md, section 4): every write appends an entry in
// its own transaction; after the commit the entry is delivered to the cache
// (its users invalidated, the store's applied position raised to the entry's
// ID) and marked delivered. Delivery is idempotent, so the writer or any
// other instance may do it, as often as it takes. The log, not Redis, says
// what changed and in what order: a Redis that went back in time shows an
// applied position behind what the log says was delivered, and is not
// trusted until repaired (watch.go).

// NotifyChannel is the PostgreSQL channel entries are announced on:
// "c:<id>" when committed, "d:<id>" when delivered.
const NotifyChannel = "access_changes"

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

// announce notifies the other instances (PostgreSQL only; within tx, the
// notification is sent when tx commits).
func (l *Log) announce(ctx context.Context, tx *ent.Tx, what string, id int) error {
	return l.announceText(ctx, tx, what+":"+strconv.Itoa(id))
}

// execer runs a statement: a transaction (its notifications leave when it
// commits) or the client (they leave at once).
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// announceText sends payload on the log's channel through db: when it
// commits, for a transaction.
func (l *Log) announceText(ctx context.Context, db execer, payload string) error {
	if !l.postgres {
		return nil
	}
	if _, err := db.ExecContext(ctx, "SELECT pg_notify($1, $2)", NotifyChannel, payload); err != nil {
		return fmt.Errorf("announce access change: %w", err)
	}
	return nil
}

// maxNoticeUsers bounds the users a delivery's notification names (a
// notification carries at most 8,000 bytes); beyond it the notification
// names nobody and readers read the log.
const maxNoticeUsers = 400

// announceDelivered announces entry id delivered ("d:<id>:<users>", "*"
// for everyone), naming whom it affected when they fit, so that the
// fleet's instances drop them on receipt (fleet.droppedOnNotice); too many
// to name, it names nobody ("d:<id>") and readers read the log.
func (l *Log) announceDelivered(ctx context.Context, tx *ent.Tx, id int, users []int, all bool) error {
	var affected string
	switch {
	case all:
		affected = "*"
	case len(users) <= maxNoticeUsers:
		parts := make([]string, len(users))
		for i, u := range users {
			parts[i] = strconv.Itoa(u)
		}
		affected = strings.Join(parts, ",")
		if affected == "" {
			affected = "-" // affects nobody
		}
	}
	if affected == "" {
		return l.announce(ctx, tx, "d", id)
	}
	return l.announceText(ctx, tx, "d:"+strconv.Itoa(id)+":"+affected)
}

// parseAffected reads the affected part of a delivery's notification.
func parseAffected(text string) (users []int, all, ok bool) {
	switch text {
	case "*":
		return nil, true, true
	case "-":
		return nil, false, true
	}
	for part := range strings.SplitSeq(text, ",") {
		u, err := strconv.Atoi(part)
		if err != nil {
			return nil, false, false
		}
		users = append(users, u)
	}
	return users, false, true
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

// deliverIn is the one delivery, of the writer and of the sweep alike: for
// each entry, in order, it invalidates what the entry affects (raising the
// store's applied position to it) and marks it delivered inside tx, with
// the users it affected, for the audit trail and the other instances. Safe
// to repeat: a delivered entry is marked once. Call delivered for each entry
// once tx has committed.
func (l *Log) deliverIn(ctx context.Context, tx *ent.Tx, entries []*ent.AccessChange) error {
	for _, e := range entries {
		users, err := l.invalidateFor(ctx, e)
		if err != nil {
			return err
		}
		if err := l.markInTx(ctx, tx, e.ID, users, e.All); err != nil {
			return fmt.Errorf("mark delivered: %w", err)
		}
	}
	return nil
}

// delivered tells this instance an entry's delivery committed: the log's
// delivered head advances, the live watchers it affects are woken, and an
// invalidate-all starts warming over (everyone's answers are cold now).
func (l *Log) delivered(entries ...*ent.AccessChange) {
	for _, e := range entries {
		l.positions.delivered(int64(e.ID))
		l.live.delivered(e.ID)
		if e.All && l.cfg.OnInvalidateAll != nil {
			l.cfg.OnInvalidateAll()
		}
	}
}

// invalidateFor invalidates what entry affects and raises the store's
// applied position to it; it returns the users it invalidated.
func (l *Log) invalidateFor(ctx context.Context, entry *ent.AccessChange) ([]int, error) {
	users, all := l.affected(ctx, entry)
	// The floor: a store that has not applied what this instance knows was
	// delivered went back in time; the delivery must not move its position
	// over that gap (it fails instead, and the store is repaired).
	inv := cache.Invalidation{Users: users, All: all, Position: int64(entry.ID), Floor: l.positions.deliveredHead.Load()}
	if err := l.cache.Invalidate(ctx, inv); err != nil {
		return users, err
	}
	if f := l.fleet.Load(); f != nil {
		// Invalidate dropped them from this instance's L1 already (after
		// the store): its confirmations need not drop them again.
		f.alreadyDropped(entry.ID)
	}
	return users, nil
}

// markSubsumed marks entries delivered without invalidating anything: a
// delivered invalidate-all made after them (the repair) covered them.
func (l *Log) markSubsumed(ctx context.Context, entries []*ent.AccessChange) error {
	tx, err := l.db.Tx(ctx)
	if err != nil {
		return fmt.Errorf("mark delivered: %w", err)
	}
	for _, e := range entries {
		// Subsumed by an invalidate-all delivered before: announced as
		// affecting everyone, as that one did.
		if err := l.markInTx(ctx, tx, e.ID, e.Users, true); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("mark delivered: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("mark delivered: %w", err)
	}
	for _, e := range entries {
		l.positions.delivered(int64(e.ID))
		l.live.delivered(e.ID)
	}
	return nil
}

// affectedUsers is whom delivered changes affected: everyone, or their
// users and the holders recorded at their delivery (recordAffected). The
// fleet, dropping them from its L1, and the live fan-out, waking their
// subscribers, both read a delivery this way.
func affectedUsers(changes []seenChange) (users []int, all bool) {
	for _, c := range changes {
		if c.All {
			return nil, true
		}
		users = append(append(users, c.Users...), c.Affected...)
	}
	return users, false
}

func recordAffected(ctx context.Context, tx *ent.Tx, id int, users []int) error {
	users = slices.DeleteFunc(slices.Clone(users), func(u int) bool { return u == cache.CatalogUser })
	for chunk := range slices.Chunk(users, 1000) {
		rows := make([]*ent.AccessChangeUserCreate, len(chunk))
		for i, u := range chunk {
			rows[i] = tx.AccessChangeUser.Create().SetChangeID(id).SetUserID(u)
		}
		if err := tx.AccessChangeUser.CreateBulk(rows...).Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}

func orEmpty(ids []int) []int {
	if ids == nil {
		return []int{}
	}
	return ids
}
