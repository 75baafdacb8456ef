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

// TeamMembership makes a user a member of a team: while it is active and
// has not ended, the user holds everything the team holds.
type TeamMembership struct {
	ent.Schema
}

// Fields of the TeamMembership.
func (TeamMembership) Fields() []ent.Field {
	return []ent.Field{
		field.Int("team_id").Immutable().Annotations(entgql.Skip(entgql.SkipType, entgql.SkipWhereInput)),
		field.Int("user_id").Immutable().Annotations(entgql.Skip(entgql.SkipType, entgql.SkipWhereInput)),
		field.Bool("active").Default(true),
		// expires_at ends the membership on its own, like a time-bound
		// grant (a membership confers grants). Null: no end.
		field.Time("expires_at").Optional().Nillable(),
		// expire_logged: as on the assignments, the end's "expire" entry is
		// in the log.
		field.Bool("expire_logged").Default(false).
			Annotations(entgql.Skip()),
	}
}

// Edges of the TeamMembership.
func (TeamMembership) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("team", Team.Type).
			Ref("memberships").
			Field("team_id").
			Unique().
			Required().
			Immutable(),
		edge.From("user", User.Type).
			Ref("team_memberships").
			Field("user_id").
			Unique().
			Required().
			Immutable(),
	}
}

// Indexes of the TeamMembership: one per team and user (which also finds a
// team's members), and by user (resolution reads a user's teams).
func (TeamMembership) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("team_id", "user_id").Unique(),
		index.Fields("user_id"),
		index.Fields("expires_at").StorageKey("membership_pending_expiry").
			Annotations(entsql.IndexWhere("((expires_at IS NOT NULL) AND (NOT expire_logged))")),
	}
}

// Annotations of the TeamMembership: a GraphQL type (addTeamMember returns
// it), written only through the team mutations.
func (TeamMembership) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput, entgql.SkipWhereInput),
	}
}

// Policy of the TeamMembership: see privacy.go.
func (TeamMembership) Policy() ent.Policy {
	return readPolicy(filterTeamMemberships())
}
