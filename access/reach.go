package access

import "slices"

// Reach is what one viewer may do and where: the permissions of their active
// roles and the programs and projects their active scopes reach.
type Reach struct {
	Permissions []Permission
	// Global is set when the viewer has an active GLOBAL scope: every program
	// and project is in reach, including ones created later.
	Global bool
	// Programs and Projects are the accessible IDs, ascending; empty with
	// Global, which reaches every one (the lists are not kept: their size
	// would grow with the catalog).
	Programs []int
	Projects []int
	// ScopedPrograms are the programs of the viewer's PROGRAM scopes,
	// ascending: with GLOBAL, the programs in write reach. (A PROJECT scope
	// makes its parent program readable, never writable.)
	ScopedPrograms []int
	// ScopedProjects are the projects of the viewer's PROJECT scopes. With
	// ScopedPrograms they express the project reach as scopes, whose size
	// does not grow with the catalog: a query filters on them, not on the
	// list of every reachable project.
	ScopedProjects []int
}

// Can reports whether the viewer holds p.
func (r Reach) Can(p Permission) bool { return slices.Contains(r.Permissions, p) }

// HasProgram reports whether program id is in scope.
func (r Reach) HasProgram(id int) bool {
	if r.Global {
		return true
	}
	_, ok := slices.BinarySearch(r.Programs, id)
	return ok
}

// HasProject reports whether project id is in scope.
func (r Reach) HasProject(id int) bool {
	if r.Global {
		return true
	}
	_, ok := slices.BinarySearch(r.Projects, id)
	return ok
}

// CanReadProgram reports whether the viewer may read program id: PROGRAM_READ
// and the program in scope.
func (r Reach) CanReadProgram(id int) bool { return r.Can(ProgramRead) && r.HasProgram(id) }

// CanReadProject reports whether the viewer may read project id.
func (r Reach) CanReadProject(id int) bool { return r.Can(ProjectRead) && r.HasProject(id) }

// WritesProgram reports whether program id is in the viewer's write reach:
// through a GLOBAL scope or a PROGRAM scope on it.
func (r Reach) WritesProgram(id int) bool {
	if r.Global {
		return true
	}
	_, ok := slices.BinarySearch(r.ScopedPrograms, id)
	return ok
}

// WritesProject reports whether project id is in the viewer's write reach:
// through GLOBAL, a PROGRAM scope on its program or a PROJECT scope on it,
// which is exactly the set of accessible projects.
func (r Reach) WritesProject(id int) bool { return r.HasProject(id) }

// Object is a program or a project: what an access check is about.
type Object struct {
	Kind ObjectKind
	ID   int
}

// ObjectKind tells programs from projects.
type ObjectKind string

// The kinds of object a check can be about.
const (
	ProgramObject ObjectKind = "program"
	ProjectObject ObjectKind = "project"
)

// Allows answers an access check: the viewer holds p, and the object is in
// the reach p needs: the read reach for a *_READ permission, the write reach
// for any other.
func (r Reach) Allows(p Permission, o Object) bool {
	if !r.Can(p) {
		return false
	}
	switch {
	case o.Kind == ProgramObject && p.IsRead():
		return r.HasProgram(o.ID)
	case o.Kind == ProgramObject:
		return r.WritesProgram(o.ID)
	case p.IsRead():
		return r.HasProject(o.ID)
	}
	return r.WritesProject(o.ID)
}

// Sees reports whether the viewer may read the object. It looks the ID up
// in the accessible lists, so an ID that names no object is not seen either
// except with Global, which keeps no lists: then the caller must check that
// the object exists.
func (r Reach) Sees(o Object) bool {
	list, perm := r.Projects, ProjectRead
	if o.Kind == ProgramObject {
		list, perm = r.Programs, ProgramRead
	}
	_, listed := slices.BinarySearch(list, o.ID)
	return r.Can(perm) && (listed || r.Global)
}
