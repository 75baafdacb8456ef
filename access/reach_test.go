package access

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// The reach rules of docs/design.md, section 3, one shape of scope at a
// time: a PROGRAM scope reads and writes its program and every project in
// it; a PROJECT scope reads its project and its parent program but writes
// only the project; GLOBAL reaches everything, including what does not
// exist yet; a permission never held allows nothing anywhere.
func TestReach_Rules(t *testing.T) {
	all := DefaultPermissions(RoleAdmin)
	const program, other, project, sibling = 10, 20, 11, 12 // project and sibling are in program
	inProgram := Reach{Permissions: all, Programs: []int{program}, Projects: []int{project, sibling}, ScopedPrograms: []int{program}}
	inProject := Reach{Permissions: all, Programs: []int{program}, Projects: []int{project}, ScopedProjects: []int{project}}
	global := Reach{Permissions: all, Global: true}
	viewer := Reach{Permissions: DefaultPermissions(RoleViewer), Global: true}
	prog := func(id int) Object { return Object{Kind: ProgramObject, ID: id} }
	proj := func(id int) Object { return Object{Kind: ProjectObject, ID: id} }

	for _, tc := range []struct {
		name  string
		reach Reach
		p     Permission
		o     Object
		want  bool
	}{
		{"PROGRAM scope reads its program", inProgram, ProgramRead, prog(program), true},
		{"PROGRAM scope writes its program", inProgram, ProgramWrite, prog(program), true},
		{"PROGRAM scope writes its projects", inProgram, ProjectWrite, proj(sibling), true},
		{"PROGRAM scope does not reach another program", inProgram, ProgramRead, prog(other), false},
		{"PROJECT scope reads the parent program", inProject, ProgramRead, prog(program), true},
		{"PROJECT scope never writes the parent program", inProject, ProgramWrite, prog(program), false},
		{"PROJECT scope writes its project", inProject, ProjectWrite, proj(project), true},
		{"PROJECT scope does not reach a sibling", inProject, ProjectRead, proj(sibling), false},
		{"GLOBAL reaches what is created later", global, ProjectWrite, proj(999), true},
		{"a permission not held allows nothing", viewer, ProjectWrite, proj(project), false},
	} {
		assert.Equal(t, tc.want, tc.reach.Allows(tc.p, tc.o), tc.name)
	}
	assert.True(t, inProject.Sees(prog(program)))
	assert.False(t, inProject.Sees(proj(sibling)))
	assert.True(t, global.Sees(proj(999)), "GLOBAL keeps no lists: the caller checks existence")
	assert.False(t, Reach{Global: true}.Sees(proj(1)), "reach without the read permission sees nothing")
}

func TestScopeType_CheckTarget(t *testing.T) {
	assert.NoError(t, ScopeGlobal.CheckTarget(false, false))
	assert.Error(t, ScopeGlobal.CheckTarget(true, false))
	assert.NoError(t, ScopeProgram.CheckTarget(true, false))
	assert.Error(t, ScopeProgram.CheckTarget(true, true))
	assert.NoError(t, ScopeProject.CheckTarget(false, true))
	assert.Error(t, ScopeProject.CheckTarget(false, false))
	assert.Error(t, ScopeType("TEAM").CheckTarget(false, false))
}

// Permission sets are stored normalized: declaration order, no duplicates,
// and an unknown permission refused.
func TestNormalizePermissions(t *testing.T) {
	got, err := NormalizePermissions([]Permission{ProjectRead, ProgramRead, ProjectRead})
	assert.NoError(t, err)
	assert.Equal(t, []Permission{ProgramRead, ProjectRead}, got)
	_, err = NormalizePermissions([]Permission{"ROOT"})
	assert.Error(t, err)
}
