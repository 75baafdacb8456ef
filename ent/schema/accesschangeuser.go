package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// AccessChangeUser records that an access change affected a user, so the
// log can be read by user, in order.
type AccessChangeUser struct {
	ent.Schema
}

// Fields of the AccessChangeUser.
func (AccessChangeUser) Fields() []ent.Field {
	return []ent.Field{
		field.Int("change_id").Immutable(),
		field.Int("user_id").Immutable(),
	}
}

// Indexes of the AccessChangeUser: by user, in log order; one row per pair.
func (AccessChangeUser) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("user_id", "change_id").Unique(),
		index.Fields("change_id"),
	}
}

// Annotations of the AccessChangeUser: not exposed in GraphQL.
func (AccessChangeUser) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip()}
}

// Policy of the AccessChangeUser: see privacy.go.
func (AccessChangeUser) Policy() ent.Policy {
	return readPolicy(filterAccessChangeUsers())
}
