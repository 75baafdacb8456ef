package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// RoleAssignment grants a role to a user; only active ones count.
type RoleAssignment struct {
	ent.Schema
}

// Fields of the RoleAssignment.
func (RoleAssignment) Fields() []ent.Field {
	return []ent.Field{
		field.Int("user_id").Immutable().Annotations(entgql.Skip(entgql.SkipType, entgql.SkipWhereInput)),
		field.Int("role_id").Immutable().Annotations(entgql.Skip(entgql.SkipType, entgql.SkipWhereInput)),
		field.Bool("active").Default(true),
		// expires_at ends the assignment on its own (time-bound grants): from
		// that instant, on the database's clock, it counts as inactive
		// everywhere. Null: no end.
		field.Time("expires_at").Optional().Nillable(),
		// expire_logged says the end has its "expire" entry in the
		// access-change log: set in the transaction that appends it, so the
		// entry is written once whichever instance notices first; assigning
		// again (a new end) clears it.
		field.Bool("expire_logged").Default(false).
			Annotations(entgql.Skip()),
	}
}

// Edges of the RoleAssignment.
func (RoleAssignment) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("user", User.Type).
			Ref("role_assignments").
			Field("user_id").
			Unique().
			Required().
			Immutable(),
		edge.From("role", Role.Type).
			Ref("assignments").
			Field("role_id").
			Unique().
			Required().
			Immutable(),
	}
}

// Indexes of the RoleAssignment: one assignment per user and role; the unique
// index also serves every lookup by user, the second one lookups by role.
func (RoleAssignment) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("user_id", "role_id").Unique(),
		index.Fields("role_id"),
		// The ends no "expire" entry has logged yet: the expiry watcher's
		// next-end lookup.
		index.Fields("expires_at").StorageKey("role_pending_expiry").
			Annotations(entsql.IndexWhere("((expires_at IS NOT NULL) AND (NOT expire_logged))")),
	}
}

// Policy of the RoleAssignment: see privacy.go.
func (RoleAssignment) Policy() ent.Policy {
	return readPolicy(filterRoleAssignments())
}
