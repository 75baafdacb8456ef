package schema

import (
	"context"

	"authz-gateway/access"
	"authz-gateway/apperr"
	gen "authz-gateway/ent"
	"authz-gateway/ent/hook"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// ScopeAssignment says where its holder's permissions apply: everywhere
// (GLOBAL), in one program, or in one project. The holder is a user or a
// team (exactly one: user_id or team_id).
type ScopeAssignment struct {
	ent.Schema
}

// Fields of the ScopeAssignment. The target never changes after creation: a
// different target is a different assignment.
func (ScopeAssignment) Fields() []ent.Field {
	return []ent.Field{
		field.Int("user_id").Optional().Nillable().Immutable().Annotations(entgql.Skip(entgql.SkipType, entgql.SkipWhereInput)),
		field.Int("team_id").Optional().Nillable().Immutable().Annotations(entgql.Skip(entgql.SkipType, entgql.SkipWhereInput)),
		field.Enum("scope_type").
			GoType(access.ScopeType("")).
			Immutable().
			Annotations(entgql.Type("ScopeType")),
		field.Int("program_id").Optional().Nillable().Immutable().
			Annotations(entgql.Skip(entgql.SkipType, entgql.SkipWhereInput)),
		field.Int("project_id").Optional().Nillable().Immutable().
			Annotations(entgql.Skip(entgql.SkipType, entgql.SkipWhereInput)),
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

// Edges of the ScopeAssignment. Deleting the user or the target deletes the
// assignment (ON DELETE CASCADE, declared on the owning edges).
func (ScopeAssignment) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("user", User.Type).
			Ref("scope_assignments").
			Field("user_id").
			Unique().
			Immutable(),
		edge.From("team", Team.Type).
			Ref("scope_assignments").
			Field("team_id").
			Unique().
			Immutable().
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
		// The targets are readable (and null when out of the viewer's scope)
		// but not filterable, for the same reason as Program.projects.
		edge.From("program", Program.Type).
			Ref("scope_assignments").
			Field("program_id").
			Unique().
			Immutable().
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
		edge.From("project", Project.Type).
			Ref("scope_assignments").
			Field("project_id").
			Unique().
			Immutable().
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
	}
}

// Indexes of the ScopeAssignment: by user (resolution) and by target (finding
// the users a catalog change affects). One assignment per user and target:
// partial unique indexes, one per scope type, because a plain unique index
// over the nullable targets would treat two NULLs as different and let
// duplicates in (which removing one would leave in force). The GLOBAL one
// also finds every GLOBAL holder by index.
func (ScopeAssignment) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("user_id", "active"),
		index.Fields("program_id"),
		// The ends no "expire" entry has logged yet: the expiry watcher's
		// next-end lookup.
		index.Fields("expires_at").StorageKey("scope_pending_expiry").
			Annotations(entsql.IndexWhere("((expires_at IS NOT NULL) AND (NOT expire_logged))")),
		index.Fields("project_id"),
		index.Fields("user_id").Unique().StorageKey("scope_unique_global").
			Annotations(entsql.IndexWhere("scope_type = 'GLOBAL'")),
		index.Fields("user_id", "program_id").Unique().StorageKey("scope_unique_program").
			Annotations(entsql.IndexWhere("scope_type = 'PROGRAM'")),
		index.Fields("user_id", "project_id").Unique().StorageKey("scope_unique_project").
			Annotations(entsql.IndexWhere("scope_type = 'PROJECT'")),
		// The same for teams; the first also serves a team's lookups.
		index.Fields("team_id").Unique().StorageKey("team_scope_unique_global").
			Annotations(entsql.IndexWhere("scope_type = 'GLOBAL'")),
		index.Fields("team_id", "program_id").Unique().StorageKey("team_scope_unique_program").
			Annotations(entsql.IndexWhere("scope_type = 'PROGRAM'")),
		index.Fields("team_id", "project_id").Unique().StorageKey("team_scope_unique_project").
			Annotations(entsql.IndexWhere("scope_type = 'PROJECT'")),
	}
}

// Annotations of the ScopeAssignment: the database enforces the same
// target-matches-type rule as the hook below, for writers that bypass ent,
// and one holder per row.
func (ScopeAssignment) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.Annotation{Checks: map[string]string{
			"scope_target_matches_type": "((scope_type = 'GLOBAL' AND program_id IS NULL AND project_id IS NULL) OR " +
				"(scope_type = 'PROGRAM' AND program_id IS NOT NULL AND project_id IS NULL) OR " +
				"(scope_type = 'PROJECT' AND project_id IS NOT NULL AND program_id IS NULL))",
			"scope_one_holder": oneHolder,
		}},
	}
}

// Hooks of the ScopeAssignment.
func (ScopeAssignment) Hooks() []ent.Hook {
	return []ent.Hook{
		hook.On(validateScopeTarget, ent.OpCreate),
	}
}

// validateScopeTarget rejects a scope whose target does not match its type
// before it reaches the database, with a message a client can act on.
func validateScopeTarget(next ent.Mutator) ent.Mutator {
	return hook.ScopeAssignmentFunc(func(ctx context.Context, m *gen.ScopeAssignmentMutation) (ent.Value, error) {
		st, _ := m.ScopeType()
		_, hasProgram := m.ProgramID()
		_, hasProject := m.ProjectID()
		if err := st.CheckTarget(hasProgram, hasProject); err != nil {
			return nil, apperr.Errorf(apperr.BadUserInput, "invalid scope: %v", err)
		}
		return next.Mutate(ctx, m)
	})
}

// Policy of the ScopeAssignment: see privacy.go.
func (ScopeAssignment) Policy() ent.Policy {
	return readPolicy(filterScopeAssignments())
}
