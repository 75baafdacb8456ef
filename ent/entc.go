//go:build ignore

// entc.go generates the ent client and the GraphQL schema of the ent types
// (graph/ent.graphql). Run through `go generate ./...` from the module root.
package main

import (
	"fmt"
	"log"
	"strings"

	"entgo.io/contrib/entgql"
	"entgo.io/ent/entc"
	"entgo.io/ent/entc/gen"
	"github.com/vektah/gqlparser/v2/ast"
)

func main() {
	ex, err := entgql.NewExtension(
		entgql.WithConfigPath("./gqlgen.yml"),
		entgql.WithSchemaGenerator(),
		entgql.WithSchemaPath("./graph/ent.graphql"),
		entgql.WithWhereInputs(true),
		entgql.WithRelaySpec(true),
		entgql.WithSchemaHook(rename, describe),
	)
	if err != nil {
		log.Fatalf("creating entgql extension: %v", err)
	}
	err = entc.Generate("./ent/schema", &gen.Config{
		Target:  "./ent",
		Package: "authz-gateway/ent",
		Features: []gen.Feature{
			gen.FeaturePrivacy,
			gen.FeatureIntercept,
			gen.FeatureEntQL,
			gen.FeatureModifier,
			gen.FeatureExecQuery,
			gen.FeatureUpsert,
			gen.FeatureLock,
			gen.FeatureVersionedMigration,
		},
	}, entc.Extensions(ex))
	if err != nil {
		log.Fatalf("running ent codegen: %v", err)
	}
}

// descriptions of the generated schema's types, fields and enum values that
// ent cannot carry (code generators turn them into typed clients'
// comments; graph's TestSchema_EveryElementIsDescribed checks none is
// missing). Predicates of the where inputs and order fields are described
// by rule (describe).
var descriptions = map[string]string{
	"User":                               "A person who holds roles (what they may do) and scopes (where).",
	"User.email":                         "The user's email address, unique (compared case-insensitively).",
	"User.name":                          "The user's display name.",
	"User.active":                        "Whether the user may sign in; an inactive user has no access at all.",
	"User.externalId":                    "The user's subject (`sub`) at the identity provider, unique; how a service account is recognised with AUTH_USER_CLAIM=sub.",
	"User.roleAssignments":               "The user's role assignments, active or not.",
	"User.scopeAssignments":              "The user's scope assignments, active or not.",
	"Program":                            "A program: a group of projects. A PROGRAM scope reaches it and all its projects.",
	"Program.name":                       "The program's name, unique.",
	"Program.description":                "A free-text description.",
	"Program.projects":                   "The program's projects (that the viewer may read).",
	"Project":                            "A project, in exactly one program. A PROJECT scope reaches it (and lets its holder see the program).",
	"Project.name":                       "The project's name, unique within its program.",
	"Project.description":                "A free-text description.",
	"Project.programID":                  "The ID of the project's program.",
	"Project.program":                    "The project's program.",
	"Role":                               "One of the fixed roles with its permission set (editable, except ADMIN's: it holds every permission).",
	"Role.type":                          "Which role this is.",
	"RoleAssignment":                     "A role held by a user or a team (every active member holds it); only active assignments grant anything.",
	"RoleAssignment.active":              "Whether the assignment grants its role's permissions now.",
	"RoleAssignment.expiresAt":           "When the assignment ends on its own (from then on it grants nothing, whatever active says); null: never.",
	"RoleAssignment.user":                "The user who holds the role (null when a team holds it).",
	"RoleAssignment.team":                "The team that holds the role (null when a user holds it).",
	"RoleAssignment.role":                "The role held.",
	"ScopeAssignment":                    "Where a user's (or every member of a team's) permissions apply: everywhere (GLOBAL), one program, or one project. Only active assignments count.",
	"ScopeAssignment.scopeType":          "GLOBAL, PROGRAM or PROJECT.",
	"ScopeAssignment.active":             "Whether the scope applies now.",
	"ScopeAssignment.expiresAt":          "When the scope ends on its own (from then on it applies nowhere, whatever active says); null: never.",
	"ScopeAssignment.user":               "The user who holds the scope (null when a team holds it).",
	"ScopeAssignment.team":               "The team that holds the scope (null when a user holds it).",
	"Team":                               "A group of users that holds roles and scopes as one: every active member holds them. Teams do not nest.",
	"Team.name":                          "The team's name, unique.",
	"Team.description":                   "A free-text description.",
	"Team.externalGroup":                 "The identity provider's group the team mirrors: with AUTH_GROUPS_CLAIM, a provider token's groups decide its memberships. Null: managed by hand.",
	"Team.roleAssignments":               "The roles the team holds, active or not.",
	"Team.scopeAssignments":              "The scopes the team holds, active or not.",
	"TeamMembership":                     "A user's membership of a team: while active and not ended, the user holds what the team holds.",
	"TeamMembership.active":              "Whether the membership counts now.",
	"TeamMembership.expiresAt":           "When the membership ends on its own; null: never.",
	"TeamMembership.team":                "The team.",
	"TeamMembership.user":                "The member.",
	"CreateTeamInput.name":               "The team's name (unique).",
	"CreateTeamInput.description":        "A free-text description.",
	"CreateTeamInput.externalGroup":      "The identity provider's group the team mirrors (unique; optional).",
	"UpdateTeamInput.name":               "A new name (unique).",
	"UpdateTeamInput.description":        "A new description.",
	"UpdateTeamInput.externalGroup":      "A new identity provider's group (unique).",
	"UpdateTeamInput.clearExternalGroup": "Stops mirroring the group: memberships stay, managed by hand from now on.",
	"Query.teams":                        "The teams the viewer may read (USER_READ; without it, the viewer's own), a page at a time.",
	"ScopeAssignment.program":            "The program of a PROGRAM scope (null otherwise).",
	"ScopeAssignment.project":            "The project of a PROJECT scope (null otherwise).",
	"AccessChange":                       "One entry of the access-change log: a write that could change someone's access.",
	"AccessChange.createdAt":             "When the change was made.",
	"AccessChange.operation":             "The mutation that made it (e.g. deactivateScope).",
	"AccessChange.target":                "What it was about, in words.",
	"AccessChange.all":                   "Whether it affected everyone's cached access (e.g. invalidateAllCaches).",
	"AccessChange.deliveredAt":           "When every gateway instance's cache was told (null: not yet).",
	"RoleType.ADMIN":                     "Every permission, always.",
	"RoleType.PROGRAM_MANAGER":           "Manages programs and their projects.",
	"RoleType.PROJECT_MANAGER":           "Manages projects.",
	"RoleType.VIEWER":                    "Reads programs and projects.",
	"ScopeType.GLOBAL":                   "Everywhere: every program and project, now and later.",
	"ScopeType.PROGRAM":                  "One program and all its projects.",
	"ScopeType.PROJECT":                  "One project (and the name of its program).",
	"CreateUserInput.email":              "The user's email address (unique, case-insensitive).",
	"CreateUserInput.name":               "The user's display name.",
	"CreateUserInput.active":             "Whether the user may sign in (default true).",
	"UpdateUserInput.email":              "A new email address.",
	"UpdateUserInput.name":               "A new display name.",
	"UpdateUserInput.active":             "Activates or deactivates the user.",
	"CreateUserInput.externalId":         "The user's subject (`sub`) at the identity provider (unique).",
	"UpdateUserInput.externalId":         "A new subject at the identity provider (unique).",
	"UpdateUserInput.clearExternalId":    "Removes the subject: tokens with the old one no longer map to this user.",
	"CreateProgramInput.name":            "The program's name (unique).",
	"CreateProgramInput.description":     "A free-text description.",
	"UpdateProgramInput.name":            "A new name (unique).",
	"UpdateProgramInput.description":     "A new description.",
	"CreateProjectInput.name":            "The project's name (unique within its program).",
	"CreateProjectInput.description":     "A free-text description.",
	"CreateProjectInput.programID":       "The program the project belongs to (in the viewer's write reach).",
	"UpdateProjectInput.name":            "A new name (unique within its program).",
	"UpdateProjectInput.description":     "A new description.",
	"UpdateProjectInput.programID":       "Moves the project to this program (both in the viewer's write reach).",
	"Query":                              "The root of every read. Everything out of the viewer's scope is invisible: absent from lists, NOT_FOUND by ID.",
	"Query.programs":                     "The programs the viewer may read, a page at a time.",
	"Query.projects":                     "The projects the viewer may read, a page at a time.",
	"Query.users":                        "The users the viewer may read (USER_READ), a page at a time.",
}

// predicates describes the where inputs' predicate fields by suffix (the
// longest that matches wins); %s is the field.
var predicates = []struct{ suffix, text string }{
	{"NEQ", "%s differs from the value."},
	{"NotIn", "%s is none of the values."},
	{"In", "%s is one of the values."},
	{"GTE", "%s is greater than or equal to the value."},
	{"GT", "%s is greater than the value."},
	{"LTE", "%s is less than or equal to the value."},
	{"LT", "%s is less than the value."},
	{"ContainsFold", "%s contains the value, ignoring case."},
	{"Contains", "%s contains the value."},
	{"HasPrefix", "%s starts with the value."},
	{"HasSuffix", "%s ends with the value."},
	{"EqualFold", "%s equals the value, ignoring case."},
	{"IsNil", "%s is null."},
	{"NotNil", "%s is not null."},
}

// renames are the generated names that differ from the contract's: ent
// spells the ID initialism in capitals (externalID), the API spells
// externalId like userId. gqlgen binds fields case-insensitively, so the
// Go names (ExternalID) stay.
var renames = map[string]string{"externalID": "externalId", "ExternalID": "ExternalId"}

// rename is the schema hook that applies renames to every field name
// (the type's field, the mutation inputs, the where predicates).
func rename(_ *gen.Graph, s *ast.Schema) error {
	for _, def := range s.Types {
		for _, f := range def.Fields {
			for from, to := range renames {
				f.Name = strings.ReplaceAll(f.Name, from, to)
			}
		}
	}
	return nil
}

// describe is the schema hook: it fills every description ent left empty.
func describe(_ *gen.Graph, s *ast.Schema) error {
	for name, d := range s.Directives {
		if strings.HasPrefix(name, "go") && d.Description == "" {
			// gqlgen's own directives, declared by ent for the server's
			// code generation.
			d.Description = "A code generation hint of the gateway's Go server; clients can ignore it."
			for _, a := range d.Arguments {
				a.Description = "Part of the code generation hint."
			}
		}
	}
	for name, def := range s.Types {
		if def.BuiltIn {
			continue
		}
		if d, ok := descriptions[name]; ok && def.Description == "" {
			def.Description = d
		}
		for _, f := range def.Fields {
			if d, ok := descriptions[name+"."+f.Name]; ok && f.Description == "" {
				f.Description = d
			}
			switch {
			case f.Description != "":
			case f.Name == "id":
				f.Description = "The object's ID, unique across every type (a global ID)."
			case strings.HasSuffix(name, "WhereInput"):
				f.Description = predicate(f.Name)
			}
			for _, a := range f.Arguments {
				if a.Description == "" {
					a.Description = argument(a.Name)
				}
			}
		}
		for _, v := range def.EnumValues {
			if d, ok := descriptions[name+"."+v.Name]; ok && v.Description == "" {
				v.Description = d
			}
			if v.Description == "" && strings.HasSuffix(name, "OrderField") {
				v.Description = "Order by " + strings.ToLower(strings.ReplaceAll(v.Name, "_", " ")) + "."
			}
		}
	}
	return nil
}

func predicate(field string) string {
	switch field {
	case "not":
		return "Matches what the filter does not."
	case "and":
		return "Matches what every one of the filters matches."
	case "or":
		return "Matches what any of the filters matches."
	}
	if edge, ok := strings.CutPrefix(field, "has"); ok && edge != "" && edge[0] >= 'A' && edge[0] <= 'Z' {
		if edge, ok := strings.CutSuffix(edge, "With"); ok {
			return fmt.Sprintf("Has a %s matching any of the filters.", edge)
		}
		return fmt.Sprintf("Has at least one %s.", edge)
	}
	for _, p := range predicates {
		if base, ok := strings.CutSuffix(field, p.suffix); ok && base != "" {
			return fmt.Sprintf(p.text, base)
		}
	}
	return field + " equals the value."
}

// argument describes the connection arguments ent generates.
func argument(name string) string {
	switch name {
	case "after":
		return "Returns the elements that come after this cursor."
	case "first":
		return "Returns the first n elements."
	case "before":
		return "Returns the elements that come before this cursor."
	case "last":
		return "Returns the last n elements."
	case "orderBy":
		return "Ordering options for the returned elements."
	case "where":
		return "Filtering options for the returned elements."
	case "id":
		return "The object's ID."
	case "ids":
		return "The objects' IDs."
	}
	return ""
}
