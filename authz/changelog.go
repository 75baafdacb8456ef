package authz

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"authz-gateway/cache"
	"authz-gateway/ent"
	"authz-gateway/ent/accesschange"
	"authz-gateway/ent/accesschangeuser"
	"authz-gateway/reqctx"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
)

// The access-change log (DESIGN section 4): every write appends an entry in
// its own transaction; after the commit the entry is delivered to the cache
// (its users invalidated, the store's applied position raised to the entry's
// ID) and marked delivered. Delivery is idempotent, so the writer or any
// other instance may do it, as often as it takes. The log, not Redis, says
// what changed and in what order: a Redis that went back in time shows an
// applied position behind what the log says was delivered, and is not
// trusted until repaired (watch.go).

// notifyChannel is the PostgreSQL channel entries are announced on:
// "c:<id>" when committed, "d:<id>" when delivered.
const notifyChannel = "access_changes"

// auditScope is the narrowest object a viewer must reach to read an entry:
// a program, a project, or (kind "global") nothing narrower than GLOBAL.
type auditScope struct {
	kind string
	id   int
}

func onProgram(id int) auditScope { return auditScope{kind: "program", id: id} }
func onProject(id int) auditScope { return auditScope{kind: "project", id: id} }

// appendChange writes the log entry of a change inside its transaction and,
// on PostgreSQL, announces it when the transaction commits.
func (s *Service) appendChange(ctx context.Context, tx *ent.Tx, op string, imp impact) (*ent.AccessChange, error) {
	create := tx.AccessChange.Create().
		SetOperation(op).
		SetTarget(imp.target).
		SetAll(imp.all).
		SetUsers(orEmpty(imp.users)).
		SetPrograms(orEmpty(imp.programs)).
		SetProjects(orEmpty(imp.projects)).
		SetGlobalHolders(imp.global)
	if imp.on.kind != "" {
		create.SetScopeKind(imp.on.kind).SetScopeID(imp.on.id)
	}
	if v, ok := reqctx.ViewerFromContext(ctx); ok {
		create.SetActorID(v.UserID)
	}
	entry, err := create.Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("append access change: %w", err)
	}
	if err := s.announce(ctx, tx, "c", entry.ID); err != nil {
		return nil, err
	}
	return entry, nil
}

// announce notifies the other instances (PostgreSQL only; within tx, the
// notification is sent when tx commits).
func (s *Service) announce(ctx context.Context, tx *ent.Tx, what string, id int) error {
	if s.res.dialect != dialect.Postgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, "SELECT pg_notify($1, $2)", notifyChannel, what+":"+strconv.Itoa(id)); err != nil {
		return fmt.Errorf("announce access change: %w", err)
	}
	return nil
}

// deliver invalidates what entry affects, raises the store's applied
// position to the entry, and marks the entry delivered (with the users it
// affected, for the audit trail). Safe to repeat.
func (s *Service) deliver(ctx context.Context, entry *ent.AccessChange) error {
	ctx = reqctx.NewContextWithSystem(ctx)
	users, err := s.invalidateFor(ctx, entry)
	if err != nil {
		return err
	}
	if entry.All {
		s.warm.trigger("invalidate_all") // everyone's answers are cold now
	}
	return s.markDelivered(ctx, entry.ID, users)
}

// invalidateFor invalidates what entry affects and raises the store's
// applied position to it; it returns the users it invalidated.
func (s *Service) invalidateFor(ctx context.Context, entry *ent.AccessChange) ([]int, error) {
	users, all := s.affected(ctx, entry)
	inv := cache.Invalidation{Users: users, All: all, Position: int64(entry.ID)}
	if err := s.cache.Invalidate(ctx, inv); err != nil {
		return users, err
	}
	if f := s.fleet.Load(); f != nil {
		// Invalidate dropped them from this instance's L1 already (after
		// the store): its confirmations need not drop them again.
		f.alreadyDropped(entry.ID)
	}
	return users, nil
}

// markDelivered records the delivery of entry id and the users it affected,
// once (a repeated delivery finds it marked and writes nothing).
func (s *Service) markDelivered(ctx context.Context, id int, users []int) error {
	tx, err := s.db.Tx(ctx)
	if err != nil {
		return fmt.Errorf("mark delivered: %w", err)
	}
	if err := s.markInTx(ctx, tx, id, users); err != nil {
		_ = tx.Rollback()
		return fmt.Errorf("mark delivered: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("mark delivered: %w", err)
	}
	s.positions.delivered(int64(id))
	s.live.delivered(id)
	return nil
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

// AccessChanges queries the log, for the audit trail: the entries that
// affected userID (if set), made at or after since (if set). The privacy
// rules narrow it to what the viewer may read.
func (s *Service) AccessChanges(userID *int, since *time.Time) *ent.AccessChangeQuery {
	q := s.db.AccessChange.Query()
	if userID != nil {
		q.Where(func(sel *entsql.Selector) {
			t := entsql.Table(accesschangeuser.Table)
			sel.Where(entsql.In(sel.C(accesschange.FieldID),
				entsql.Select(t.C(accesschangeuser.FieldChangeID)).From(t).
					Where(entsql.EQ(t.C(accesschangeuser.FieldUserID), *userID))))
		})
	}
	if since != nil {
		q.Where(accesschange.CreatedAtGTE(*since))
	}
	return q
}
