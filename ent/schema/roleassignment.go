package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
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
	}
}

// Policy of the RoleAssignment: see privacy.go.
func (RoleAssignment) Policy() ent.Policy {
	return readPolicy(filterRoleAssignments())
}
