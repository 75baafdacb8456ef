package schema

import (
	"time"

	"authz-gateway/ent/privacy"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
)

// CacheInstance is one gateway instance that keeps an in-process cache tier
// (L1): its lease, and how far it has confirmed dropping the access changes
// delivered so far. A writer waits, after delivering its change, until every
// instance whose lease holds has confirmed past the change (authz/fleet.go).
// The times are the database's clock, so instances' clocks never meet.
type CacheInstance struct {
	ent.Schema
}

// Fields of the CacheInstance.
func (CacheInstance) Fields() []ent.Field {
	return []ent.Field{
		// Name says which process it is, for operators (host and PID).
		field.String("name").Immutable(),
		field.Time("started_at").Default(time.Now).Immutable(),
		// LeaseUntil is when the instance stops counting: it stops using its
		// L1 before then unless it renews.
		field.Time("lease_until"),
		// SyncedAt: every change delivered before this time has been
		// dropped from the instance's L1.
		field.Time("synced_at"),
	}
}

// Annotations of the CacheInstance: not exposed in GraphQL.
func (CacheInstance) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip()}
}

// Policy of the CacheInstance: only the gateway itself reads or writes it.
func (CacheInstance) Policy() ent.Policy {
	return privacy.Policy{
		Query:    privacy.QueryPolicy{allowSystem(), privacy.AlwaysDenyRule()},
		Mutation: systemOnlyWrites(),
	}
}
