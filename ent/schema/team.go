package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
)

// Team is a group of users that holds roles and scopes as one: every active
// member holds what the team holds, for as long as both the membership and
// the team's assignment last. Teams do not nest.
type Team struct {
	ent.Schema
}

// Fields of the Team.
func (Team) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").
			NotEmpty().
			MaxLen(200).
			Unique().
			Annotations(entgql.OrderField("NAME")),
		field.String("description").
			Default("").
			MaxLen(2000),
		// ExternalGroup is the identity provider's group the team mirrors:
		// with AUTH_GROUPS_CLAIM, a provider token's groups decide the
		// memberships of such teams. Null: managed by hand only.
		field.String("external_group").
			Optional().
			Nillable().
			Unique().
			NotEmpty().
			MaxLen(255),
	}
}

// Edges of the Team. Deleting a team deletes its memberships and its
// assignments (ON DELETE CASCADE); the authz service collects the members
// first, in the same transaction, to invalidate them.
func (Team) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("memberships", TeamMembership.Type).
			Annotations(entgql.Skip(), entsql.OnDelete(entsql.Cascade)),
		edge.To("role_assignments", RoleAssignment.Type).
			Annotations(skipMutationInputs(), entgql.Skip(entgql.SkipWhereInput), entsql.OnDelete(entsql.Cascade)),
		edge.To("scope_assignments", ScopeAssignment.Type).
			Annotations(skipMutationInputs(), entgql.Skip(entgql.SkipWhereInput), entsql.OnDelete(entsql.Cascade)),
	}
}

// Annotations of the Team.
func (Team) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.QueryField(),
		entgql.RelayConnection(),
		entgql.Mutations(entgql.MutationCreate(), entgql.MutationUpdate()),
	}
}

// Policy of the Team: see privacy.go.
func (Team) Policy() ent.Policy {
	return readPolicy(filterTeams())
}
