package answers

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"authz-gateway/access"
	"authz-gateway/db"
	"authz-gateway/ent"
	"authz-gateway/ent/role"
	"authz-gateway/internal/scratch"
	"authz-gateway/reqctx"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// openBoth opens a fresh, migrated database of each kind the gateway runs
// on (testenv imports this package: its helpers are not available here).
func openBoth(t *testing.T) map[string]*db.DB {
	t.Helper()
	server := os.Getenv("TEST_DATABASE_URL")
	if server == "" {
		server = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	url, drop, err := scratch.CreateDatabase(context.Background(), server, "authzgw_test_")
	require.NoError(t, err)
	t.Cleanup(drop)
	pg, err := db.OpenPostgres(url, db.Options{})
	require.NoError(t, err)
	lite, err := db.OpenSQLite(filepath.Join(t.TempDir(), "gateway.db"), db.Options{})
	require.NoError(t, err)
	out := map[string]*db.DB{"postgres": pg, "sqlite": lite}
	for _, d := range out {
		t.Cleanup(func() { d.Close() })
		require.NoError(t, d.Migrate(reqctx.NewContextWithSystem(context.Background())))
	}
	return out
}

// grant is one generated assignment or membership: whether it counts now.
type grant struct {
	active bool
	end    *time.Time
}

func (g grant) live(now time.Time) bool { return g.active && (g.end == nil || g.end.After(now)) }

// earliestOf is the earlier of two ends, nil being never.
func earliestOf(a, b *time.Time) *time.Time {
	switch {
	case a == nil:
		return b
	case b == nil || a.Before(*b):
		return a
	}
	return b
}

// scopeOf is a generated scope: its type and target.
type scopeOf struct {
	st               access.ScopeType
	program, project int
}

// teamWorld is a random catalog, users, teams, memberships and grants held
// by users and teams, with the model's answers beside the database's.
type teamWorld struct {
	rng      *rand.Rand
	ctx      context.Context
	db       *ent.Client
	now      time.Time
	programs []int
	projects map[int][]int // by program
	parent   map[int]int   // project -> program
	roleIDs  map[access.RoleType]int
	perms    map[access.RoleType][]access.Permission
	users    []int
	active   map[int]bool
	// held by user or team (holder IDs never collide: global IDs).
	roles      map[int]map[access.RoleType]grant
	scopes     map[int]map[scopeOf]grant
	membership map[int]map[int]grant // user -> team -> membership
}

func (w *teamWorld) randomGrant() grant {
	g := grant{active: w.rng.IntN(5) > 0}
	switch w.rng.IntN(8) {
	case 0:
		end := w.now.Add(-time.Hour) // ended
		g.end = &end
	case 1, 2:
		end := w.now.Add(time.Duration(1+w.rng.IntN(120)) * time.Minute).Truncate(time.Microsecond)
		g.end = &end
	}
	return g
}

func buildTeamWorld(t *testing.T, d *db.DB, seed uint64) *teamWorld {
	ctx := reqctx.NewContextWithSystem(context.Background())
	w := &teamWorld{rng: rand.New(rand.NewPCG(seed, 34)), ctx: ctx, db: d.Client, now: time.Now(),
		projects: map[int][]int{}, parent: map[int]int{}, roleIDs: map[access.RoleType]int{}, perms: map[access.RoleType][]access.Permission{},
		active: map[int]bool{}, roles: map[int]map[access.RoleType]grant{}, scopes: map[int]map[scopeOf]grant{}, membership: map[int]map[int]grant{}}
	for _, rt := range access.AllRoleTypes {
		r, err := d.Client.Role.Query().Where(role.TypeEQ(rt)).Only(ctx)
		if ent.IsNotFound(err) {
			r, err = d.Client.Role.Create().SetType(rt).SetPermissions(access.DefaultPermissions(rt)).Save(ctx)
		}
		require.NoError(t, err)
		w.roleIDs[rt], w.perms[rt] = r.ID, r.Permissions
	}
	for i := range 3 {
		p := d.Client.Program.Create().SetName(fmt.Sprintf("s%d-p%d", seed, i)).SaveX(ctx).ID
		w.programs = append(w.programs, p)
		for j := range 2 {
			pr := d.Client.Project.Create().SetName(fmt.Sprintf("s%d-p%d-%d", seed, i, j)).SetProgramID(p).SaveX(ctx).ID
			w.projects[p] = append(w.projects[p], pr)
			w.parent[pr] = p
		}
	}
	var teams []int
	for i := range 3 {
		teams = append(teams, d.Client.Team.Create().SetName(fmt.Sprintf("s%d-t%d", seed, i)).SaveX(ctx).ID)
	}
	for i := range 6 {
		active := w.rng.IntN(7) > 0
		u := d.Client.User.Create().SetEmail(fmt.Sprintf("s%d-u%d@test.example", seed, i)).SetName("u").SetActive(active).SaveX(ctx).ID
		w.users = append(w.users, u)
		w.active[u] = active
		w.membership[u] = map[int]grant{}
		for _, team := range teams {
			if w.rng.IntN(5) < 2 {
				g := w.randomGrant()
				w.membership[u][team] = g
				d.Client.TeamMembership.Create().SetTeamID(team).SetUserID(u).SetActive(g.active).SetNillableExpiresAt(g.end).SaveX(ctx)
			}
		}
	}
	holders := append(slices.Clone(w.users), teams...)
	for _, h := range holders {
		isTeam := slices.Contains(teams, h)
		w.roles[h], w.scopes[h] = map[access.RoleType]grant{}, map[scopeOf]grant{}
		for _, rt := range access.AllRoleTypes {
			if w.rng.IntN(10) < 2 {
				g := w.randomGrant()
				w.roles[h][rt] = g
				c := d.Client.RoleAssignment.Create().SetRoleID(w.roleIDs[rt]).SetActive(g.active).SetNillableExpiresAt(g.end)
				if isTeam {
					c.SetTeamID(h)
				} else {
					c.SetUserID(h)
				}
				c.SaveX(ctx)
			}
		}
		var targets []scopeOf
		if w.rng.IntN(15) == 0 {
			targets = append(targets, scopeOf{st: access.ScopeGlobal})
		}
		for _, p := range w.programs {
			if w.rng.IntN(6) == 0 {
				targets = append(targets, scopeOf{st: access.ScopeProgram, program: p})
			}
			for _, pr := range w.projects[p] {
				if w.rng.IntN(6) == 0 {
					targets = append(targets, scopeOf{st: access.ScopeProject, project: pr})
				}
			}
		}
		for _, s := range targets {
			g := w.randomGrant()
			w.scopes[h][s] = g
			c := d.Client.ScopeAssignment.Create().SetScopeType(s.st).SetActive(g.active).SetNillableExpiresAt(g.end)
			if s.program != 0 {
				c.SetProgramID(s.program)
			}
			if s.project != 0 {
				c.SetProjectID(s.project)
			}
			if isTeam {
				c.SetTeamID(h)
			} else {
				c.SetUserID(h)
			}
			c.SaveX(ctx)
		}
	}
	return w
}

// held walks what user u holds now, their own grants and their live
// teams', each with the end it is held until.
func (w *teamWorld) held(u int, role func(access.RoleType, *time.Time), scope func(scopeOf, *time.Time)) {
	if !w.active[u] {
		return
	}
	holders := map[int]*time.Time{u: nil}
	through := map[int]bool{u: true}
	for team, m := range w.membership[u] {
		if m.live(w.now) {
			holders[team], through[team] = m.end, true
		}
	}
	for h, until := range holders {
		for rt, g := range w.roles[h] {
			if g.live(w.now) {
				role(rt, earliestOf(until, g.end))
			}
		}
		for s, g := range w.scopes[h] {
			if g.live(w.now) {
				scope(s, earliestOf(until, g.end))
			}
		}
	}
}

// TestResolution_ThroughTeamsMatchesTheModel: on random worlds of users,
// teams, memberships and grants held by both (active or not, ended, ending
// later), each user's permissions, programs, projects and direct scopes,
// and the earliest end of each, are what the rules say (DESIGN section 3:
// a user's assignments are their own plus those of every team they are an
// active member of, the membership and the grant both not ended), on
// PostgreSQL and on SQLite.
func TestResolution_ThroughTeamsMatchesTheModel(t *testing.T) {
	worlds := 30
	if testing.Short() {
		worlds = 8
	}
	for name, d := range openBoth(t) {
		t.Run(name, func(t *testing.T) {
			r := resolver{db: d.Client, dialect: d.Dialect}
			for seed := range uint64(worlds) {
				w := buildTeamWorld(t, d, seed)
				perms, permEnds, err := r.permissions(w.ctx, w.users)
				require.NoError(t, err)
				progs, _, err := r.programs(w.ctx, w.users)
				require.NoError(t, err)
				projs, _, err := r.projects(w.ctx, w.users)
				require.NoError(t, err)
				direct, scopeEnds, err := r.directScopes(w.ctx, w.users)
				require.NoError(t, err)
				for _, u := range w.users {
					var wantPerms []access.Permission
					var permEnd, scopeEnd *time.Time
					roleSeen, scopeSeen := false, false
					wantPrograms, wantProjects := map[int]bool{}, map[int]bool{}
					global := false
					targets := map[scopeOf]bool{}
					w.held(u, func(rt access.RoleType, end *time.Time) {
						wantPerms = append(wantPerms, w.perms[rt]...)
						permEnd, roleSeen = earliestIfSeen(roleSeen, permEnd, end), true
					}, func(s scopeOf, end *time.Time) {
						scopeEnd, scopeSeen = earliestIfSeen(scopeSeen, scopeEnd, end), true
						targets[s] = true
						switch s.st {
						case access.ScopeGlobal:
							global = true
						case access.ScopeProgram:
							wantPrograms[s.program] = true
							for _, pr := range w.projects[s.program] {
								wantProjects[pr] = true
							}
						case access.ScopeProject:
							wantPrograms[w.parent[s.project]] = true
							wantProjects[s.project] = true
						}
					})
					wantPerms, _ = access.NormalizePermissions(wantPerms)
					if wantPerms == nil {
						wantPerms = []access.Permission{}
					}
					what := fmt.Sprintf("seed %d, user %d", seed, u)
					assert.Equal(t, wantPerms, orNone(perms[u]), "%s: permissions", what)
					assert.Equal(t, global, progs[u].All, "%s: GLOBAL (programs)", what)
					assert.Equal(t, global, projs[u].All, "%s: GLOBAL (projects)", what)
					if !global {
						assert.Equal(t, sortedKeys(wantPrograms), progs[u].IDs, "%s: programs", what)
						assert.Equal(t, sortedKeys(wantProjects), projs[u].IDs, "%s: projects", what)
					}
					assert.Len(t, direct[u], len(targets), "%s: one direct scope per target", what)
					assertEnd(t, permEnd, permEnds.at(u), what+": permissions' end")
					assertEnd(t, scopeEnd, scopeEnds.at(u), what+": scopes' end")
				}
			}
		})
	}
}

func earliestIfSeen(seen bool, cur, end *time.Time) *time.Time {
	if !seen {
		return end
	}
	return earliestOf(cur, end)
}

// assertEnd: an answer ends when the earliest grant it was built from
// does, rounded down to the millisecond (SQLite's a millisecond earlier
// still, by design, and julianday is off by some microseconds: under 3 ms
// in all).
func assertEnd(t *testing.T, want *time.Time, got time.Time, what string) {
	t.Helper()
	if want == nil {
		assert.True(t, got.IsZero(), "%s: none, got %v", what, got)
		return
	}
	assert.False(t, got.After(*want), "%s: %v after %v", what, got, *want)
	assert.Less(t, want.Sub(got), 3*time.Millisecond, "%s: %v, want %v", what, got, *want)
}

func sortedKeys(m map[int]bool) []int {
	out := []int{}
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func orNone(p []access.Permission) []access.Permission {
	if p == nil {
		return []access.Permission{}
	}
	return p
}
