package schema

import (
	"authz-gateway/ent/privacy"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// CatalogCount keeps the catalog's sizes so that no request has to count a
// table: row 0 holds the numbers of programs, projects and users, the row of
// a program (its ID) the number of its projects. On PostgreSQL, triggers
// keep them in the transaction of every write, whoever makes it (the
// gateway, a bulk load by SQL): db/migrations/*_catalog_counts.sql. SQLite
// has the table but counts its (small) catalog instead.
type CatalogCount struct {
	ent.Schema
}

// Fields of the CatalogCount.
func (CatalogCount) Fields() []ent.Field {
	return []ent.Field{
		// ID is 0 for the totals, else the program's ID.
		field.Int("id").Immutable(),
		field.Int("programs").Default(0),
		field.Int("projects").Default(0),
		field.Int("users").Default(0),
	}
}

// Indexes of the CatalogCount: the largest program is found by index.
func (CatalogCount) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("projects").Annotations(entsql.IndexWhere("(id > 0)")),
	}
}

// Annotations of the CatalogCount: not exposed in GraphQL.
func (CatalogCount) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip()}
}

// Policy of the CatalogCount: only the gateway itself reads it (and the
// triggers write it).
func (CatalogCount) Policy() ent.Policy {
	return privacy.Policy{
		Query:    privacy.QueryPolicy{allowSystem(), privacy.AlwaysDenyRule()},
		Mutation: systemOnlyWrites(),
	}
}
