package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// AccessChange is one entry of the access-change log: a write that can change
// someone's answers, appended in the write's own transaction. Its ID orders
// the log. The cache is told about it afterwards (delivery, idempotent, by
// the writer or any instance); the log is the truth about what changed, in
// what order, which Redis cannot roll back. It is also the audit trail.
type AccessChange struct {
	ent.Schema
}

// Fields of the AccessChange.
func (AccessChange) Fields() []ent.Field {
	return []ent.Field{
		field.Time("created_at").Default(time.Now).Immutable().
			Annotations(entgql.OrderField("CREATED_AT")),
		// ActorID is the viewer who made the change; nil for the gateway itself
		// (start-up bootstrap).
		field.Int("actor_id").Optional().Nillable().Immutable().
			Annotations(entgql.Skip(entgql.SkipType, entgql.SkipWhereInput)),
		field.String("operation").Immutable(),
		field.String("target").Immutable(),
		// ScopeKind and ScopeID name the narrowest object a viewer must reach
		// to read the entry: "program" or "project" with its ID, or "global"
		// (only GLOBAL viewers).
		field.String("scope_kind").Default("global").Immutable().
			Annotations(entgql.Skip()),
		field.Int("scope_id").Optional().Nillable().Immutable().
			Annotations(entgql.Skip()),
		// All invalidates every answer; Users, Programs, Projects, Teams and
		// GlobalHolders name the rest: the users themselves, and the holders
		// of scopes on those targets, found when the entry is delivered.
		field.Bool("all").Default(false).Immutable(),
		field.JSON("users", []int{}).Immutable().Annotations(entgql.Skip()),
		field.JSON("programs", []int{}).Immutable().Annotations(entgql.Skip()),
		field.JSON("projects", []int{}).Immutable().Annotations(entgql.Skip()),
		// Teams whose members the change affects (found at delivery, like
		// the holders of Programs and Projects). Null on entries from before
		// teams.
		field.JSON("teams", []int{}).Optional().Immutable().Annotations(entgql.Skip()),
		field.Bool("global_holders").Default(false).Immutable().Annotations(entgql.Skip()),
		field.Time("delivered_at").Optional().Nillable().
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
	}
}

// Indexes of the AccessChange: the undelivered ones are found by index.
func (AccessChange) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("delivered_at"),
		index.Fields("created_at"),
	}
}

// Annotations of the AccessChange.
func (AccessChange) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput, entgql.SkipWhereInput),
	}
}

// Policy of the AccessChange: see privacy.go.
func (AccessChange) Policy() ent.Policy {
	return readPolicy(filterAccessChanges())
}
