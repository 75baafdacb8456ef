package schema

import (
	"authz-gateway/access"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Role is one of the fixed role types with its (editable) permission set.
type Role struct {
	ent.Schema
}

// Fields of the Role.
func (Role) Fields() []ent.Field {
	return []ent.Field{
		field.Enum("type").
			GoType(access.RoleType("")).
			Immutable().
			Annotations(entgql.Type("RoleType")),
		// Permissions is a set stored as a JSON array; GraphQL exposes it through
		// the hand-written Role.permissions field (graph/schema.graphqls).
		field.JSON("permissions", []access.Permission{}).
			Annotations(entgql.Skip()),
	}
}

// Edges of the Role.
func (Role) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("assignments", RoleAssignment.Type).
			Annotations(entgql.Skip()),
	}
}

// Indexes of the Role: one row per role type.
func (Role) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("type").Unique(),
	}
}

// Policy of the Role: see privacy.go.
func (Role) Policy() ent.Policy {
	return readPolicy(anyViewer())
}
