package authz_test

import (
	"context"
	"fmt"
	"testing"

	"authz-gateway/access"
	"authz-gateway/answers"
	"authz-gateway/cache"
	"authz-gateway/internal/testenv"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// catalog: program A has projects a1, a2; B has b1; C has c1.
type catalog struct {
	A, B, C        int
	a1, a2, b1, c1 int
}

func newCatalog(w *testenv.World) catalog {
	var c catalog
	c.A, c.B, c.C = w.Program("A"), w.Program("B"), w.Program("C")
	c.a1, c.a2 = w.Project(c.A, "a1"), w.Project(c.A, "a2")
	c.b1, c.c1 = w.Project(c.B, "b1"), w.Project(c.C, "c1")
	return c
}

func TestResolution_Cases(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	w := testenv.NewWorld(t, g.DB.Client)
	c := newCatalog(w)
	all := func(ids ...int) []int { return ids }
	none := []int{}

	type want struct {
		perms              []access.Permission
		programs, projects []int
		global             bool
		direct             int
	}
	cases := []struct {
		name  string
		setup func(u int)
		want  want
	}{
		{"no roles, no scopes", func(int) {}, want{perms: []access.Permission{}, programs: none, projects: none}},
		{"GLOBAL viewer", func(u int) { w.Role(u, access.RoleViewer); w.Global(u) },
			want{access.DefaultPermissions(access.RoleViewer), all(c.A, c.B, c.C), all(c.a1, c.a2, c.b1, c.c1), true, 1}},
		{"PROGRAM scope grants all its projects", func(u int) { w.Role(u, access.RoleProgramManager); w.InProgram(u, c.A) },
			want{access.DefaultPermissions(access.RoleProgramManager), all(c.A), all(c.a1, c.a2), false, 1}},
		{"PROJECT scope grants its parent program", func(u int) { w.Role(u, access.RoleProjectManager); w.InProject(u, c.b1) },
			want{access.DefaultPermissions(access.RoleProjectManager), all(c.B), all(c.b1), false, 1}},
		{"overlapping PROGRAM and PROJECT scopes", func(u int) {
			w.Role(u, access.RoleViewer)
			w.InProgram(u, c.A)
			w.InProject(u, c.a1)
			w.InProject(u, c.c1)
		}, want{access.DefaultPermissions(access.RoleViewer), all(c.A, c.C), all(c.a1, c.a2, c.c1), false, 3}},
		{"two roles: union of permissions", func(u int) { w.Role(u, access.RoleViewer); w.Role(u, access.RoleProjectManager) },
			want{access.DefaultPermissions(access.RoleProjectManager), none, none, false, 0}},
		{"inactive role counts for nothing", func(u int) { w.Role(u, access.RoleViewer); w.Role(u, access.RoleAdmin, false) },
			want{access.DefaultPermissions(access.RoleViewer), none, none, false, 0}},
		{"inactive scope counts for nothing", func(u int) { w.InProgram(u, c.A); w.Global(u, false) },
			want{[]access.Permission{}, all(c.A), all(c.a1, c.a2), false, 1}},
		{"inactive user has nothing", func(u int) { w.Role(u, access.RoleAdmin); w.Global(u); w.Deactivate(u) },
			want{[]access.Permission{}, none, none, false, 0}},
		{"GLOBAL plus narrower scopes is still everything once", func(u int) { w.Global(u); w.InProgram(u, c.A); w.InProject(u, c.c1) },
			want{[]access.Permission{}, all(c.A, c.B, c.C), all(c.a1, c.a2, c.b1, c.c1), true, 3}},
	}
	users := make([]int, len(cases))
	for i, tc := range cases {
		users[i] = w.User(fmt.Sprintf("case%d@test.example", i))
		tc.setup(users[i])
	}
	// All users in one batch: the same code path the loaders use.
	var keys []cache.Key
	for _, u := range users {
		keys = append(keys, answers.ReachKeys(u)...)
	}
	for _, pass := range []string{"cold", "warm"} {
		got, err := g.Answers.Answers(context.Background(), keys)
		require.NoError(t, err)
		for i, tc := range cases {
			t.Run(pass+"/"+tc.name, func(t *testing.T) {
				u := users[i]
				at := func(kind cache.Kind) answers.Answer { return got[cache.Key{Kind: kind, UserID: u}] }
				assert.Equal(t, tc.want.perms, at(cache.Permissions).Permissions)
				if tc.want.global {
					// Everything is answered as such, not as the catalog's IDs.
					assert.True(t, at(cache.AccessiblePrograms).All && at(cache.AccessibleProjects).All)
					assert.Empty(t, at(cache.AccessiblePrograms).IDs)
				} else {
					assert.Equal(t, tc.want.programs, at(cache.AccessiblePrograms).IDs)
					assert.Equal(t, tc.want.projects, at(cache.AccessibleProjects).IDs)
				}
				sum := at(cache.ScopeSummary).Summary
				assert.Equal(t, tc.want.global, sum.HasGlobalScope)
				assert.Equal(t, len(tc.want.programs), sum.AccessibleProgramCount)
				assert.Equal(t, len(tc.want.projects), sum.AccessibleProjectCount)
				assert.Len(t, sum.DirectScopes, tc.want.direct)
			})
		}
	}
}

func TestResolution_UnknownUserIsEmpty(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	reach, err := g.Authz.Reach(context.Background(), 123456789)
	require.NoError(t, err)
	assert.Empty(t, reach.Permissions)
	assert.Empty(t, reach.Programs)
	assert.Empty(t, reach.Projects)
	assert.False(t, reach.Global)
}

func projectIDs(svc *answers.Source, user int) ([]int, error) {
	a, err := answerOf(svc, answers.Key{Kind: answers.KindAccessibleProjects, UserID: user})
	return a.IDs, err
}

func permissionsOf(svc *answers.Source, user int) ([]access.Permission, error) {
	a, err := answerOf(svc, answers.Key{Kind: answers.KindPermissions, UserID: user})
	return a.Permissions, err
}

// answerOf is one answer as svc serves it.
func answerOf(svc *answers.Source, key answers.Key) (answers.Answer, error) {
	got, err := svc.Answers(context.Background(), []answers.Key{key})
	return got[key], err
}
