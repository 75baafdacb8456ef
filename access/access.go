// Package access holds the vocabulary of authorization: permissions, role types,
// scope types and the default role matrix. It is a leaf package (no imports from
// this module) so that the ent schemas, the authz service and the GraphQL layer can
// all share one definition of every enum.
package access

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// Permission is one capability a role can grant.
type Permission string

// The permissions, in the order GraphQL and the default matrix list them.
const (
	ProgramRead  Permission = "PROGRAM_READ"
	ProgramWrite Permission = "PROGRAM_WRITE"
	ProjectRead  Permission = "PROJECT_READ"
	ProjectWrite Permission = "PROJECT_WRITE"
	UserRead     Permission = "USER_READ"
	UserManage   Permission = "USER_MANAGE"
	RoleManage   Permission = "ROLE_MANAGE"
	ScopeManage  Permission = "SCOPE_MANAGE"
	CacheManage  Permission = "CACHE_MANAGE"
	// AuditRead reads the access-change log (ADMIN holds it).
	AuditRead Permission = "AUDIT_READ"
)

// AllPermissions lists every permission once, in declaration order.
var AllPermissions = []Permission{
	ProgramRead, ProgramWrite, ProjectRead, ProjectWrite,
	UserRead, UserManage, RoleManage, ScopeManage, CacheManage, AuditRead,
}

// Values lets ent use Permission as an enum Go type.
func (Permission) Values() []string { return enumStrings(AllPermissions) }

// IsRead reports whether p only reads (PROGRAM_READ, PROJECT_READ, ...): its
// checks need the read reach; every other permission needs the write reach.
func (p Permission) IsRead() bool { return strings.HasSuffix(string(p), "_READ") }

// Valid reports whether p is one of the declared permissions.
func (p Permission) Valid() bool { return slices.Contains(AllPermissions, p) }

func (p Permission) String() string { return string(p) }

// MarshalGQL writes the permission as a GraphQL enum value.
func (p Permission) MarshalGQL(w io.Writer) { marshalEnum(w, string(p)) }

// UnmarshalGQL reads and validates a GraphQL enum value.
func (p *Permission) UnmarshalGQL(v any) error { return unmarshalEnum(v, p, "Permission") }

// RoleType names one of the fixed roles; their permission sets are data.
type RoleType string

// The role types.
const (
	RoleAdmin          RoleType = "ADMIN"
	RoleProgramManager RoleType = "PROGRAM_MANAGER"
	RoleProjectManager RoleType = "PROJECT_MANAGER"
	RoleViewer         RoleType = "VIEWER"
)

// AllRoleTypes lists every role type once.
var AllRoleTypes = []RoleType{RoleAdmin, RoleProgramManager, RoleProjectManager, RoleViewer}

// Values lets ent use RoleType as an enum Go type.
func (RoleType) Values() []string { return enumStrings(AllRoleTypes) }

// Valid reports whether r is one of the declared role types.
func (r RoleType) Valid() bool { return slices.Contains(AllRoleTypes, r) }

func (r RoleType) String() string { return string(r) }

// MarshalGQL writes the role type as a GraphQL enum value.
func (r RoleType) MarshalGQL(w io.Writer) { marshalEnum(w, string(r)) }

// UnmarshalGQL reads and validates a GraphQL enum value.
func (r *RoleType) UnmarshalGQL(v any) error { return unmarshalEnum(v, r, "RoleType") }

// ScopeType says how far a scope assignment reaches.
type ScopeType string

// The scope types.
const (
	ScopeGlobal  ScopeType = "GLOBAL"
	ScopeProgram ScopeType = "PROGRAM"
	ScopeProject ScopeType = "PROJECT"
)

// AllScopeTypes lists every scope type once.
var AllScopeTypes = []ScopeType{ScopeGlobal, ScopeProgram, ScopeProject}

// Values lets ent use ScopeType as an enum Go type.
func (ScopeType) Values() []string { return enumStrings(AllScopeTypes) }

// Valid reports whether s is one of the declared scope types.
func (s ScopeType) Valid() bool { return slices.Contains(AllScopeTypes, s) }

func (s ScopeType) String() string { return string(s) }

// MarshalGQL writes the scope type as a GraphQL enum value.
func (s ScopeType) MarshalGQL(w io.Writer) { marshalEnum(w, string(s)) }

// UnmarshalGQL reads and validates a GraphQL enum value.
func (s *ScopeType) UnmarshalGQL(v any) error { return unmarshalEnum(v, s, "ScopeType") }

// CheckTarget validates that a scope of type s names exactly the target its type
// requires: GLOBAL none, PROGRAM a program only, PROJECT a project only.
func (s ScopeType) CheckTarget(hasProgram, hasProject bool) error {
	switch s {
	case ScopeGlobal:
		if hasProgram || hasProject {
			return fmt.Errorf("a GLOBAL scope takes neither a program nor a project")
		}
	case ScopeProgram:
		if !hasProgram || hasProject {
			return fmt.Errorf("a PROGRAM scope takes a program and no project")
		}
	case ScopeProject:
		if !hasProject || hasProgram {
			return fmt.Errorf("a PROJECT scope takes a project and no program")
		}
	default:
		return fmt.Errorf("unknown scope type %q", string(s))
	}
	return nil
}

// DefaultPermissions is the permission set each role starts with. Role permission
// sets are editable at run time; this is only what seeding writes.
func DefaultPermissions(r RoleType) []Permission {
	switch r {
	case RoleAdmin:
		return slices.Clone(AllPermissions)
	case RoleProgramManager:
		return []Permission{ProgramRead, ProgramWrite, ProjectRead, ProjectWrite, UserRead}
	case RoleProjectManager:
		return []Permission{ProgramRead, ProjectRead, ProjectWrite, UserRead}
	case RoleViewer:
		return []Permission{ProgramRead, ProjectRead}
	}
	return nil
}

// NormalizePermissions returns ps validated, deduplicated and in declaration order,
// so that equal sets always serialize identically.
func NormalizePermissions(ps []Permission) ([]Permission, error) {
	out := make([]Permission, 0, len(ps))
	for _, p := range AllPermissions {
		if slices.Contains(ps, p) {
			out = append(out, p)
		}
	}
	for _, p := range ps {
		if !p.Valid() {
			return nil, fmt.Errorf("unknown permission %q", string(p))
		}
	}
	return out, nil
}

func enumStrings[T ~string](vs []T) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}

func marshalEnum(w io.Writer, s string) { _, _ = io.WriteString(w, strconv.Quote(s)) }

func unmarshalEnum[T interface {
	~string
	Valid() bool
}](v any, dst *T, name string) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("%s must be a string", name)
	}
	if !T(s).Valid() {
		return fmt.Errorf("%q is not a valid %s", s, name)
	}
	*dst = T(s)
	return nil
}
