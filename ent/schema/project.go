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

// Project belongs to exactly one program; scopes can grant a single project.
type Project struct {
	ent.Schema
}

// Fields of the Project.
func (Project) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").
			NotEmpty().
			MaxLen(200).
			Annotations(entgql.OrderField("NAME")),
		field.String("description").
			Default("").
			MaxLen(2000),
		// program_id is settable through the mutation inputs (programID) but
		// readable only as the `program` edge, which honours the viewer's scope.
		field.Int("program_id").
			Annotations(entgql.Skip(entgql.SkipType, entgql.SkipWhereInput)),
	}
}

// Edges of the Project. A project can move to another program (updateProject's
// programID), so the edge is mutable.
func (Project) Edges() []ent.Edge {
	return []ent.Edge{
		// No where-filter through this edge: it would run on programs
		// without their privacy rule, so a viewer without PROGRAM_READ could
		// learn program names by filtering projects on them.
		edge.From("program", Program.Type).
			Ref("projects").
			Field("program_id").
			Unique().
			Required().
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
		edge.To("scope_assignments", ScopeAssignment.Type).
			Annotations(entgql.Skip(), entsql.OnDelete(entsql.Cascade)),
	}
}

// Indexes of the Project: names are unique within a program, and the index also
// serves "projects of a program"; the name alone serves a page of every
// project by name (a GLOBAL viewer's `projects(orderBy: NAME)`), which at
// 100,000 projects otherwise sorts them all for 20 rows.
func (Project) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("program_id", "name").Unique(),
		index.Fields("name"),
	}
}

// Annotations of the Project.
func (Project) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.QueryField(),
		entgql.RelayConnection(),
		entgql.Mutations(entgql.MutationCreate(), entgql.MutationUpdate()),
	}
}

// Policy of the Project: see privacy.go.
func (Project) Policy() ent.Policy {
	return readPolicy(filterProjects())
}
