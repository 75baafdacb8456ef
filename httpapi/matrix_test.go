package httpapi_test

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"testing"

	"authz-gateway/access"
	"authz-gateway/internal/testenv"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The permission matrix: every role (and none) with every scope shape (and
// none), over every read path and every kind of mutation, checked against the
// rules of docs/design.md, section 3 computed independently here.

type shape struct {
	name               string
	programs, projects func(m *matrixWorld) []string // names in scope
	writePrograms      []string                      // programs in write reach
	global             bool
}

type matrixWorld struct {
	g     *testenv.Gateway
	ids   map[string]int // "A", "B", "a1", "a2", "b1" -> ID
	names map[int]string
	other int // a target user for role/scope mutations
}

var roleTypes = []access.RoleType{access.RoleAdmin, access.RoleProgramManager, access.RoleProjectManager, access.RoleViewer, ""}

var shapes = []shape{
	{name: "global", global: true, writePrograms: []string{"A", "B"},
		programs: func(*matrixWorld) []string { return []string{"A", "B"} },
		projects: func(*matrixWorld) []string { return []string{"a1", "a2", "b1"} }},
	{name: "program A", writePrograms: []string{"A"},
		programs: func(*matrixWorld) []string { return []string{"A"} },
		projects: func(*matrixWorld) []string { return []string{"a1", "a2"} }},
	{name: "project a1",
		programs: func(*matrixWorld) []string { return []string{"A"} },
		projects: func(*matrixWorld) []string { return []string{"a1"} }},
	{name: "none",
		programs: func(*matrixWorld) []string { return nil },
		projects: func(*matrixWorld) []string { return nil }},
}

func newMatrixWorld(t *testing.T) *matrixWorld {
	g := testenv.NewGateway(t, testenv.Options{})
	w := testenv.NewWorld(t, g.DB.Client)
	m := &matrixWorld{g: g, ids: map[string]int{}, names: map[int]string{}}
	m.ids["A"], m.ids["B"] = w.Program("A"), w.Program("B")
	m.ids["a1"], m.ids["a2"] = w.Project(m.ids["A"], "a1"), w.Project(m.ids["A"], "a2")
	m.ids["b1"] = w.Project(m.ids["B"], "b1")
	for name, id := range m.ids {
		m.names[id] = name
	}
	m.other = w.User("target@test.example")
	return m
}

// subject is one cell of the matrix: a user with a role and a scope shape.
type subject struct {
	role        access.RoleType
	shape       shape
	id          int
	token       string
	perms       []access.Permission
	inPrograms  []string
	inProjects  []string
	readProgram []string // PROGRAM_READ and in scope
	readProject []string
}

func (s subject) can(p access.Permission) bool { return slices.Contains(s.perms, p) }

func newSubject(t *testing.T, m *matrixWorld, i int, rt access.RoleType, sh shape) subject {
	w := testenv.NewWorld(t, m.g.DB.Client)
	s := subject{role: rt, shape: sh, inPrograms: sh.programs(m), inProjects: sh.projects(m)}
	s.id = w.User(fmt.Sprintf("cell%02d@test.example", i))
	if rt != "" {
		w.Role(s.id, rt)
		s.perms = access.DefaultPermissions(rt)
	}
	switch sh.name {
	case "global":
		w.Global(s.id)
	case "program A":
		w.InProgram(s.id, m.ids["A"])
	case "project a1":
		w.InProject(s.id, m.ids["a1"])
	}
	if s.can(access.ProgramRead) {
		s.readProgram = s.inPrograms
	}
	if s.can(access.ProjectRead) {
		s.readProject = s.inProjects
	}
	s.token = m.g.Token(t, s.id)
	return s
}

// eachSubject runs check for every role and scope shape, each a user of its own.
func eachSubject(t *testing.T, check func(t *testing.T, m *matrixWorld, s subject, n int)) {
	m := newMatrixWorld(t)
	n := 0
	for _, rt := range roleTypes {
		for _, sh := range shapes {
			s := newSubject(t, m, n, rt, sh)
			n++
			t.Run(fmt.Sprintf("%s/%s", orNone(rt), sh.name), func(t *testing.T) { check(t, m, s, n) })
		}
	}
}

func TestMatrix_ReadPaths(t *testing.T) {
	eachSubject(t, func(t *testing.T, m *matrixWorld, s subject, _ int) { checkReads(t, m, s) })
}

func checkReads(t *testing.T, m *matrixWorld, s subject) {
	q := func(query string, vars map[string]any, out any) {
		t.Helper()
		testenv.MustOK(t, m.g.Do(t, s.token, query, vars)).Decode(t, out)
	}
	var lists struct {
		Programs struct {
			TotalCount int
			Edges      []struct {
				Node struct {
					ID       string
					Projects []struct{ ID string }
				}
			}
		}
		Projects struct {
			TotalCount int
			Edges      []struct {
				Node struct {
					ID      string
					Program struct{ ID string }
				}
			}
		}
		Filtered struct{ TotalCount int }
	}
	q(`{ programs { totalCount edges { node { id projects { id } } } }
		projects { totalCount edges { node { id program { id } } } }
		filtered: projects(where: {nameHasPrefix: "a"}) { totalCount } }`, nil, &lists)
	assert.Equal(t, len(s.readProgram), lists.Programs.TotalCount, "programs.totalCount")
	var gotPrograms, nested []string
	for _, e := range lists.Programs.Edges {
		gotPrograms = append(gotPrograms, m.name(e.Node.ID))
		for _, p := range e.Node.Projects {
			nested = append(nested, m.name(p.ID))
		}
	}
	assert.ElementsMatch(t, s.readProgram, gotPrograms, "programs")
	assert.ElementsMatch(t, intersect(s.readProject, projectsOf(s.readProgram)), nested, "Program.projects edge")
	assert.Equal(t, len(s.readProject), lists.Projects.TotalCount, "projects.totalCount")
	var gotProjects []string
	for _, e := range lists.Projects.Edges {
		gotProjects = append(gotProjects, m.name(e.Node.ID))
	}
	assert.ElementsMatch(t, s.readProject, gotProjects, "projects")
	assert.Equal(t, len(intersect(s.readProject, []string{"a1", "a2"})), lists.Filtered.TotalCount, "where filter")

	for _, name := range []string{"A", "B", "a1", "a2", "b1"} {
		r := m.g.Do(t, s.token, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": fmt.Sprint(m.ids[name])})
		visible := slices.Contains(s.readProgram, name) || slices.Contains(s.readProject, name)
		if visible {
			assert.Empty(t, r.Errors, "node(%s)", name)
		} else {
			assert.Equal(t, []string{"NOT_FOUND"}, r.Codes(), "node(%s) out of reach is not found", name)
			assert.NotContains(t, string(r.Data), fmt.Sprint(m.ids[name]))
		}
	}
	var nodes struct{ Nodes []*struct{ ID string } }
	r := m.g.Do(t, s.token, `query($ids: [ID!]!) { nodes(ids: $ids) { id } }`,
		map[string]any{"ids": []string{fmt.Sprint(m.ids["A"]), fmt.Sprint(m.ids["b1"]), fmt.Sprint(m.ids["a1"])}})
	r.Decode(t, &nodes)
	for i, name := range []string{"A", "b1", "a1"} {
		visible := slices.Contains(s.readProgram, name) || slices.Contains(s.readProject, name)
		assert.Equal(t, visible, nodes.Nodes[i] != nil, "nodes[%d] (%s)", i, name)
	}

	var me struct {
		Me struct {
			AccessiblePrograms []struct{ ID string }
			AccessibleProjects []struct{ ID, Name string }
			ScopeAssignments   []struct {
				Program *struct{ Name string }
				Project *struct{ Name string }
			}
		}
		Users struct{ TotalCount int }
	}
	q(`{ me { accessiblePrograms { id } accessibleProjects { id name } scopeAssignments { program { name } project { name } } }
		users { totalCount } }`, nil, &me)
	assert.ElementsMatch(t, s.readProgram, m.namesOf(me.Me.AccessiblePrograms), "me.accessiblePrograms")
	var projectNames []string
	for _, p := range me.Me.AccessibleProjects {
		projectNames = append(projectNames, p.Name)
	}
	assert.ElementsMatch(t, s.readProject, projectNames, "me.accessibleProjects")
	for _, sa := range me.Me.ScopeAssignments {
		if sa.Program != nil {
			assert.Contains(t, s.readProgram, sa.Program.Name, "scope target shown only when readable")
		}
		if sa.Project != nil {
			assert.Contains(t, s.readProject, sa.Project.Name)
		}
	}
	checkIDLists(t, m, s)
	if s.can(access.UserRead) {
		assert.Greater(t, me.Users.TotalCount, 1, "USER_READ lists users")
	} else {
		assert.Equal(t, 1, me.Users.TotalCount, "without USER_READ only oneself")
	}
}

// checkIDLists: accessibleProgramIds and accessibleProjectIds are the IDs
// of the object lists beside them, ascending, for the viewer and for every
// user the viewer may read (filtered by the viewer's reach alike).
func checkIDLists(t *testing.T, m *matrixWorld, s subject) {
	t.Helper()
	type lists struct {
		ID                   string
		AccessiblePrograms   []struct{ ID string }
		AccessibleProjects   []struct{ ID string }
		AccessibleProgramIds []string
		AccessibleProjectIds []string
	}
	var out struct {
		Me    lists
		Users struct{ Edges []struct{ Node lists } }
	}
	const fields = `id accessiblePrograms { id } accessibleProjects { id } accessibleProgramIds accessibleProjectIds`
	testenv.MustOK(t, m.g.Do(t, s.token, `{ me { `+fields+` } users(first: 100) { edges { node { `+fields+` } } } }`, nil)).Decode(t, &out)
	all := []lists{out.Me}
	for _, e := range out.Users.Edges {
		all = append(all, e.Node)
	}
	ids := func(objs []struct{ ID string }) []string {
		out := []string{}
		for _, o := range objs {
			out = append(out, o.ID)
		}
		return out
	}
	ascending := func(ids []string) bool {
		return slices.IsSortedFunc(ids, func(a, b string) int { return cmp.Compare(len(a), len(b))*2 + cmp.Compare(a, b) })
	}
	for _, u := range all {
		assert.Equal(t, ids(u.AccessiblePrograms), u.AccessibleProgramIds, "user %s: accessibleProgramIds", u.ID)
		assert.Equal(t, ids(u.AccessibleProjects), u.AccessibleProjectIds, "user %s: accessibleProjectIds", u.ID)
		assert.True(t, ascending(u.AccessibleProgramIds) && ascending(u.AccessibleProjectIds), "user %s: ascending", u.ID)
	}
	named := func(ids []string) []string {
		var out []string
		for _, id := range ids {
			out = append(out, m.name(id))
		}
		return out
	}
	assert.ElementsMatch(t, s.readProgram, named(out.Me.AccessibleProgramIds), "me.accessibleProgramIds")
	assert.ElementsMatch(t, s.readProject, named(out.Me.AccessibleProjectIds), "me.accessibleProjectIds")
}

func TestMatrix_Mutations(t *testing.T) {
	eachSubject(t, checkMutations)
}

func checkMutations(t *testing.T, m *matrixWorld, s subject, n int) {
	id := func(name string) string { return fmt.Sprint(m.ids[name]) }
	outcome := func(perm access.Permission, inScope bool) string {
		switch {
		case !s.can(perm):
			return "FORBIDDEN"
		case !inScope:
			return "NOT_FOUND"
		}
		return ""
	}
	// Write reach (docs/design.md, section 3): a program through GLOBAL or a PROGRAM
	// scope on it; a PROJECT scope shows the parent program (FORBIDDEN to
	// write, with PROGRAM_READ) but never makes it writable.
	programWrite := func(perm access.Permission, program string) string {
		switch {
		case !s.can(perm):
			return "FORBIDDEN"
		case slices.Contains(s.shape.writePrograms, program):
			return ""
		case slices.Contains(s.readProgram, program):
			return "FORBIDDEN"
		}
		return "NOT_FOUND"
	}
	// Role management needs ROLE_MANAGE and a GLOBAL scope.
	roleManagement := func() string {
		if !s.can(access.RoleManage) || !s.shape.global {
			return "FORBIDDEN"
		}
		return ""
	}
	cases := []struct {
		name, query string
		vars        map[string]any
		want        string
		perm        access.Permission
	}{
		{"createProject in A", `mutation($p: ID!, $n: String!) { createProject(input: {name: $n, programID: $p}) { id } }`,
			map[string]any{"p": id("A"), "n": fmt.Sprintf("new%d", n)}, programWrite(access.ProjectWrite, "A"), access.ProjectWrite},
		{"createProject in B", `mutation($p: ID!, $n: String!) { createProject(input: {name: $n, programID: $p}) { id } }`,
			map[string]any{"p": id("B"), "n": fmt.Sprintf("new%d", n)}, programWrite(access.ProjectWrite, "B"), access.ProjectWrite},
		{"updateProject a1", `mutation($id: ID!) { updateProject(id: $id, input: {description: "x"}) { id } }`,
			map[string]any{"id": id("a1")}, outcome(access.ProjectWrite, slices.Contains(s.inProjects, "a1")), access.ProjectWrite},
		{"updateProject b1", `mutation($id: ID!) { updateProject(id: $id, input: {description: "x"}) { id } }`,
			map[string]any{"id": id("b1")}, outcome(access.ProjectWrite, slices.Contains(s.inProjects, "b1")), access.ProjectWrite},
		{"updateProgram A", `mutation($id: ID!) { updateProgram(id: $id, input: {description: "x"}) { id } }`,
			map[string]any{"id": id("A")}, programWrite(access.ProgramWrite, "A"), access.ProgramWrite},
		{"createProgram", `mutation($n: String!) { createProgram(input: {name: $n}) { id } }`,
			map[string]any{"n": fmt.Sprintf("P%d", n)}, createProgramOutcome(s), access.ProgramWrite},
		{"createUser", `mutation($e: String!) { createUser(input: {email: $e, name: "N"}) { id } }`,
			map[string]any{"e": fmt.Sprintf("made%d@test.example", n)}, outcome(access.UserManage, true), access.UserManage},
		{"assignRole", `mutation($u: ID!) { assignRole(userId: $u, role: VIEWER) { id } }`,
			map[string]any{"u": fmt.Sprint(m.other)}, roleManagement(), access.RoleManage},
		{"setRolePermissions", `mutation { setRolePermissions(role: VIEWER, permissions: [PROGRAM_READ, PROJECT_READ]) { id } }`,
			nil, roleManagement(), access.RoleManage},
		{"assignScope PROGRAM A", `mutation($u: ID!, $p: ID!) { assignScope(input: {userId: $u, scopeType: PROGRAM, programId: $p}) { id } }`,
			map[string]any{"u": fmt.Sprint(m.other), "p": id("A")}, programWrite(access.ScopeManage, "A"), access.ScopeManage},
		{"assignScope PROGRAM B", `mutation($u: ID!, $p: ID!) { assignScope(input: {userId: $u, scopeType: PROGRAM, programId: $p}) { id } }`,
			map[string]any{"u": fmt.Sprint(m.other), "p": id("B")}, programWrite(access.ScopeManage, "B"), access.ScopeManage},
		{"assignScope PROJECT a1", `mutation($u: ID!, $p: ID!) { assignScope(input: {userId: $u, scopeType: PROJECT, projectId: $p}) { id } }`,
			map[string]any{"u": fmt.Sprint(m.other), "p": id("a1")}, outcome(access.ScopeManage, slices.Contains(s.inProjects, "a1")), access.ScopeManage},
		{"assignScope GLOBAL", `mutation($u: ID!) { assignScope(input: {userId: $u, scopeType: GLOBAL}) { id } }`,
			map[string]any{"u": fmt.Sprint(m.other)}, globalGrantOutcome(s), access.ScopeManage},
		{"invalidateAllCaches", `mutation { invalidateAllCaches }`, nil, outcome(access.CacheManage, true), access.CacheManage},
		{"cacheStats", `{ cacheStats { hits } }`, nil, outcome(access.CacheManage, true), access.CacheManage},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := m.g.Do(t, s.token, tc.query, tc.vars)
			if tc.want == "" {
				assert.Empty(t, r.Errors)
				return
			}
			require.Equal(t, []string{tc.want}, r.Codes(), "%+v", r.Errors)
			if !s.can(tc.perm) {
				assert.Contains(t, r.Errors[0].Message, "missing permission "+string(tc.perm), "the message names what is missing")
			}
		})
	}
}

func createProgramOutcome(s subject) string {
	switch {
	case !s.can(access.ProgramWrite), !s.shape.global:
		return "FORBIDDEN"
	}
	return ""
}

func globalGrantOutcome(s subject) string {
	switch {
	case !s.can(access.ScopeManage), !s.shape.global:
		return "FORBIDDEN"
	}
	return ""
}

func orNone(rt access.RoleType) string {
	if rt == "" {
		return "no role"
	}
	return string(rt)
}

func (m *matrixWorld) name(id string) string {
	var n int
	fmt.Sscan(id, &n)
	return m.names[n]
}

func (m *matrixWorld) namesOf(items []struct{ ID string }) []string {
	var out []string
	for _, it := range items {
		out = append(out, m.name(it.ID))
	}
	return out
}

func projectsOf(programs []string) []string {
	var out []string
	for _, p := range programs {
		switch p {
		case "A":
			out = append(out, "a1", "a2")
		case "B":
			out = append(out, "b1")
		}
	}
	return out
}

func intersect(a, b []string) []string {
	var out []string
	for _, x := range a {
		if slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	sort.Strings(out)
	return out
}
