package schema

import (
	"fmt"
	"net/mail"
	"strings"
	"unicode"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"golang.org/x/text/unicode/norm"
)

// User is a person who holds roles and scopes.
type User struct {
	ent.Schema
}

// Fields of the User.
func (User) Fields() []ent.Field {
	return []ent.Field{
		field.String("email").
			Unique().
			MaxLen(320).
			Validate(validateEmail).
			Annotations(entgql.OrderField("EMAIL")),
		field.String("name").
			NotEmpty().
			MaxLen(200).
			Annotations(entgql.OrderField("NAME")),
		field.Bool("active").
			Default(true),
		// externalID is the user's subject at the team's identity provider
		// (the token's `sub`, with AUTH_USER_CLAIM=sub): how a service
		// account, which has no email, is recognised.
		field.String("external_id").
			Optional().
			Nillable().
			Unique().
			NotEmpty().
			MaxLen(255),
	}
}

// Edges of the User.
func (User) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("role_assignments", RoleAssignment.Type).
			Annotations(skipMutationInputs(), entsql.OnDelete(entsql.Cascade)),
		edge.To("scope_assignments", ScopeAssignment.Type).
			Annotations(skipMutationInputs(), entsql.OnDelete(entsql.Cascade)),
		edge.To("team_memberships", TeamMembership.Type).
			Annotations(entgql.Skip(), entsql.OnDelete(entsql.Cascade)),
	}
}

// Annotations of the User.
func (User) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.QueryField(),
		entgql.RelayConnection(),
		entgql.Mutations(entgql.MutationCreate(), entgql.MutationUpdate()),
	}
}

// validateEmail accepts a bare address (no display name), which is what the
// tokens and the admin bootstrap look users up by.
func validateEmail(s string) error {
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Address != s || addr.Name != "" {
		return fmt.Errorf("%q is not a valid email address", s)
	}
	// ASCII letters only: Unicode case folding maps lookalikes (the Kelvin
	// sign, a dotted capital I) onto plain addresses, so it is never
	// applied, and a stored address must not need it.
	if strings.ContainsFunc(s, func(r rune) bool { return r >= 'A' && r <= 'Z' }) {
		return fmt.Errorf("email %q must be lower case", s)
	}
	if !norm.NFC.IsNormalString(s) || strings.ContainsFunc(s, func(r rune) bool { return unicode.In(r, unicode.Cc, unicode.Cf) }) {
		return fmt.Errorf("email %q must be in NFC, without control or format characters", s)
	}
	return nil
}

// skipMutationInputs keeps an edge out of the generated create/update inputs: the
// assignments are managed only through the dedicated role and scope mutations,
// which check permissions and invalidate the cache.
func skipMutationInputs() entgql.Annotation {
	return entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)
}

// Policy of the User: see privacy.go.
func (User) Policy() ent.Policy {
	return readPolicy(filterUsers())
}
