package freshness

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"authz-gateway/cache"
	"authz-gateway/ent"
	"authz-gateway/ent/accesschange"

	entsql "entgo.io/ent/dialect/sql"
)

// The delivery of an entry, the writer's (writer.go) and the watcher's
// sweep (watcher.go) alike: the users it affects invalidated, the store's
// applied position raised to the entry's ID, the entry marked delivered
// with whom it affected and announced. Delivery is idempotent, so the
// writer or any other instance may do it, as often as it takes. The log,
// not Redis, says what changed and in what order: a Redis that went back
// in time shows an applied position behind what the log says was
// delivered, and is not trusted until repaired (watcher.go).

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

// recordAffected records each user a change affected, once (a change may
// name a user twice: two scopes of one user in a bulk assignment).
func recordAffected(ctx context.Context, tx *ent.Tx, id int, users []int) error {
	users = slices.DeleteFunc(Union(users, nil), func(u int) bool { return u == cache.CatalogUser })
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

// affected resolves whom an entry affects: its users and, unless it is for
// everyone, the current holders of its targets and members of its teams.
func (l *Log) affected(ctx context.Context, e *ent.AccessChange) (users []int, all bool) {
	if e.All {
		return e.Users, true
	}
	if len(e.Programs) == 0 && len(e.Projects) == 0 && len(e.Teams) == 0 && !e.GlobalHolders {
		return e.Users, false
	}
	held, err := l.cfg.Holders(ctx, l.db, Change{Programs: e.Programs, Projects: e.Projects, Teams: e.Teams, GlobalHolders: e.GlobalHolders})
	if err != nil {
		return e.Users, true // without the holders, everyone: never less
	}
	return Union(e.Users, held), false
}

// markInTx marks entry id delivered inside tx, with its affected users.
func (l *Log) markInTx(ctx context.Context, tx *ent.Tx, id int, users []int, all bool) error {
	upd := tx.AccessChange.Update().Where(accesschange.ID(id), accesschange.DeliveredAtIsNil())
	if l.postgres {
		// The database's clock: the fleet finds delivered changes by it
		// (fleet.go).
		upd.Modify(func(u *entsql.UpdateBuilder) { u.Set(accesschange.FieldDeliveredAt, entsql.Expr("now()")) })
	} else {
		upd.SetDeliveredAt(time.Now())
	}
	n, err := upd.Save(ctx)
	if err != nil || n == 0 {
		return err
	}
	if !all {
		l.affectedUsers.Observe(float64(len(users)))
	}
	if err := recordAffected(ctx, tx, id, users); err != nil {
		return fmt.Errorf("record affected users: %w", err)
	}
	return l.announceDelivered(ctx, tx, id, users, all)
}
