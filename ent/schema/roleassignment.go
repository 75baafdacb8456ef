package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// RoleAssignment grants a role to its holder, a user or a team (exactly
// one: user_id or team_id); only active ones count.
type RoleAssignment struct {
	ent.Schema
}

// Fields of the RoleAssignment.
func (RoleAssignment) Fields() []ent.Field {
	return []ent.Field{
		field.Int("user_id").Optional().Nillable().Immutable().Annotations(entgql.Skip(entgql.SkipType, entgql.SkipWhereInput)),
		field.Int("team_id").Optional().Nillable().Immutable().Annotations(entgql.Skip(entgql.SkipType, entgql.SkipWhereInput)),
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
			Immutable(),
		edge.From("team", Team.Type).
			Ref("role_assignments").
			Field("team_id").
			Unique().
			Immutable().
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
		edge.From("role", Role.Type).
			Ref("assignments").
			Field("role_id").
			Unique().
			Required().
			Immutable(),
	}
}

// Indexes of the RoleAssignment: one assignment per holder and role (NULLs
// are distinct, so each holder kind has its own); the unique indexes also
// serve every lookup by holder, the third one lookups by role.
func (RoleAssignment) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("user_id", "role_id").Unique(),
		index.Fields("team_id", "role_id").Unique(),
		index.Fields("role_id"),
		// The ends no "expire" entry has logged yet: the expiry watcher's
		// next-end lookup.
		index.Fields("expires_at").StorageKey("role_pending_expiry").
			Annotations(entsql.IndexWhere("((expires_at IS NOT NULL) AND (NOT expire_logged))")),
	}
}

// Annotations of the RoleAssignment: the database holds every row to one
// holder.
func (RoleAssignment) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.Annotation{Checks: map[string]string{"role_one_holder": oneHolder}},
	}
}

// oneHolder is the check that an assignment has exactly one holder.
const oneHolder = "((user_id IS NULL) <> (team_id IS NULL))"

// Policy of the RoleAssignment: see privacy.go.
func (RoleAssignment) Policy() ent.Policy {
	return readPolicy(filterRoleAssignments())
}
