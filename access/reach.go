package access

import "slices"

// Reach is what one viewer may do and where: the permissions of their active
// roles and the programs and projects their active scopes reach.
type Reach struct {
	Permissions []Permission
	// Global is set when the viewer has an active GLOBAL scope: every program
	// and project is in reach, including ones created later.
	Global bool
	// Programs and Projects are the accessible IDs, ascending.
	Programs []int
	Projects []int
	// ScopedPrograms are the programs of the viewer's PROGRAM scopes,
	// ascending: with GLOBAL, the programs in write reach. (A PROJECT scope
	// makes its parent program readable, never writable.)
	ScopedPrograms []int
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
