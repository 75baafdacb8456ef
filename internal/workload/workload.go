// Package workload builds the benchmark data set of docs/design.md, section 7, the same
// on every run (fixed seed), so figures compare across runs: 50 programs x 20
// projects; 1,000 users: 10 GLOBAL, 500 PROGRAM-scoped on 1-3 random programs,
// 490 PROJECT-scoped on 1-5 random projects; each user one random role.
package workload

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"authz-gateway/access"
	"authz-gateway/ent"
	"authz-gateway/ent/role"
	"authz-gateway/reqctx"
)

// Shape sizes the data set; Default is the benchmark workload (docs/design.md, section 7).
type Shape struct {
	Programs, ProjectsPerProgram    int
	Global, ProgramScoped, Projects int // users per scope kind
}

// Default is the published benchmark shape.
var Default = Shape{Programs: 50, ProjectsPerProgram: 20, Global: 10, ProgramScoped: 500, Projects: 490}

// Seed is the fixed random seed of every published figure.
const Seed = 20261125

// Data is what Build wrote, with the accessible projects computed in Go so the
// benchmarks can pick accessible and inaccessible pairs without asking the
// gateway.
type Data struct {
	Programs []int
	Projects []int
	Users    []int
	// Accessible is each scoped user's projects in scope; a GLOBAL user
	// (Global) reaches every project and has no entry (at 100x the lists
	// would take gigabytes). Ask Allowed and Reachable.
	Accessible map[int]map[int]bool
	Global     map[int]bool
	// ProgramOf is each project's program, and Scopes every scope written:
	// what a peer system needs to load the same relationships.
	ProgramOf map[int]int
	Scopes    []Scope
	// Kind is each user's kind of scope.
	Kind map[int]access.ScopeType
}

// Scope is one scope assignment of the workload (Target 0 for GLOBAL).
type Scope struct {
	User   int
	Type   access.ScopeType
	Target int
}

// Build writes the data set into an empty catalog.
func Build(ctx context.Context, db *ent.Client, shape Shape) (*Data, error) {
	ctx = reqctx.NewContextWithSystem(ctx)
	rng := rand.New(rand.NewPCG(Seed, Seed))
	d := &Data{Accessible: map[int]map[int]bool{}, Global: map[int]bool{}, ProgramOf: map[int]int{}, Kind: map[int]access.ScopeType{}}
	projectsOf := map[int][]int{}
	programOf := d.ProgramOf
	if err := d.buildCatalog(ctx, db, shape, projectsOf, programOf); err != nil {
		return nil, err
	}
	roles, err := db.Role.Query().Where(role.TypeIn(access.AllRoleTypes...)).All(ctx)
	if err != nil || len(roles) != len(access.AllRoleTypes) {
		return nil, fmt.Errorf("workload needs the four default roles (bootstrap first): %v", err)
	}
	total := shape.Global + shape.ProgramScoped + shape.Projects
	// kinds[i] is the scope kind of the i-th user created, shuffled so that
	// every ID range (users(first: N)) mixes all kinds.
	kinds := make([]access.ScopeType, 0, total)
	for kind, n := range map[access.ScopeType]int{access.ScopeGlobal: shape.Global, access.ScopeProgram: shape.ProgramScoped, access.ScopeProject: shape.Projects} {
		for range n {
			kinds = append(kinds, kind)
		}
	}
	slices.Sort(kinds)
	rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	users := make([]*ent.UserCreate, total)
	for i := range users {
		users[i] = db.User.Create().SetEmail(fmt.Sprintf("bench%04d@bench.example", i)).SetName(fmt.Sprintf("Bench User %d", i))
	}
	created, err := bulk(ctx, users, db.User.CreateBulk)
	if err != nil {
		return nil, fmt.Errorf("create users: %w", err)
	}
	var ras []*ent.RoleAssignmentCreate
	var sas []*ent.ScopeAssignmentCreate
	for i, u := range created {
		d.Users = append(d.Users, u.ID)
		d.Kind[u.ID] = kinds[i]
		if kinds[i] != access.ScopeGlobal {
			d.Accessible[u.ID] = map[int]bool{}
		}
		ras = append(ras, db.RoleAssignment.Create().SetUserID(u.ID).SetRoleID(roles[rng.IntN(len(roles))].ID))
		switch kinds[i] {
		case access.ScopeGlobal:
			d.Global[u.ID] = true
			d.Scopes = append(d.Scopes, Scope{User: u.ID, Type: access.ScopeGlobal})
			sas = append(sas, db.ScopeAssignment.Create().SetUserID(u.ID).SetScopeType(access.ScopeGlobal))
		case access.ScopeProgram:
			for _, p := range pick(rng, d.Programs, 1+rng.IntN(3)) {
				d.Scopes = append(d.Scopes, Scope{User: u.ID, Type: access.ScopeProgram, Target: p})
				sas = append(sas, db.ScopeAssignment.Create().SetUserID(u.ID).SetScopeType(access.ScopeProgram).SetProgramID(p))
				for _, pj := range projectsOf[p] {
					d.Accessible[u.ID][pj] = true
				}
			}
		default:
			for _, pj := range pick(rng, d.Projects, 1+rng.IntN(5)) {
				d.Scopes = append(d.Scopes, Scope{User: u.ID, Type: access.ScopeProject, Target: pj})
				sas = append(sas, db.ScopeAssignment.Create().SetUserID(u.ID).SetScopeType(access.ScopeProject).SetProjectID(pj))
				d.Accessible[u.ID][pj] = true
			}
		}
	}
	if _, err := bulk(ctx, ras, db.RoleAssignment.CreateBulk); err != nil {
		return nil, fmt.Errorf("create role assignments: %w", err)
	}
	if _, err := bulk(ctx, sas, db.ScopeAssignment.CreateBulk); err != nil {
		return nil, fmt.Errorf("create scope assignments: %w", err)
	}
	return d, nil
}

func (d *Data) buildCatalog(ctx context.Context, db *ent.Client, shape Shape, projectsOf map[int][]int, programOf map[int]int) error {
	programs := make([]*ent.ProgramCreate, shape.Programs)
	for i := range programs {
		programs[i] = db.Program.Create().SetName(fmt.Sprintf("Program %02d", i))
	}
	created, err := bulk(ctx, programs, db.Program.CreateBulk)
	if err != nil {
		return fmt.Errorf("create programs: %w", err)
	}
	var projects []*ent.ProjectCreate
	for _, p := range created {
		d.Programs = append(d.Programs, p.ID)
		for j := range shape.ProjectsPerProgram {
			projects = append(projects, db.Project.Create().SetName(fmt.Sprintf("Project %02d", j)).SetProgramID(p.ID))
		}
	}
	createdProjects, err := bulk(ctx, projects, db.Project.CreateBulk)
	if err != nil {
		return fmt.Errorf("create projects: %w", err)
	}
	for _, p := range createdProjects {
		d.Projects = append(d.Projects, p.ID)
		projectsOf[p.ProgramID] = append(projectsOf[p.ProgramID], p.ID)
		programOf[p.ID] = p.ProgramID
	}
	return nil
}

// bulk saves builders in chunks (a statement's parameter count is bounded).
func bulk[B any, E any, C interface {
	Save(context.Context) ([]E, error)
}](ctx context.Context, builders []B, create func(...B) C) ([]E, error) {
	var out []E
	for chunk := range slices.Chunk(builders, 500) {
		saved, err := create(chunk...).Save(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, saved...)
	}
	return out, nil
}

// pick returns n distinct elements of from.
func pick(rng *rand.Rand, from []int, n int) []int {
	idx := rng.Perm(len(from))[:n]
	out := make([]int, n)
	for i, j := range idx {
		out[i] = from[j]
	}
	return out
}

// Allowed reports whether project p is in user u's scope.
func (d *Data) Allowed(u, p int) bool { return d.Global[u] || d.Accessible[u][p] }

// Reachable returns the number of projects in u's scope and whether p is
// one of them, for every p.
func (d *Data) Reachable(u int) (int, func(p int) bool) {
	if d.Global[u] {
		return len(d.Projects), func(int) bool { return true }
	}
	return len(d.Accessible[u]), func(p int) bool { return d.Accessible[u][p] }
}

// CheckPairs returns n (user, project) pairs, alternately accessible and not,
// drawn with the fixed seed.
func (d *Data) CheckPairs(n int) [][2]int { return d.CheckPairsOf(n, d.Users) }

// CheckPairsOf draws the pairs from users only (the ones of one scope kind,
// say); a user who reaches everything gives accessible pairs only.
func (d *Data) CheckPairsOf(n int, users []int) [][2]int {
	rng := rand.New(rand.NewPCG(Seed, 7))
	var out [][2]int
	for tries := 0; len(out) < n; tries++ {
		u := users[rng.IntN(len(users))]
		p := d.Projects[rng.IntN(len(d.Projects))]
		if d.Allowed(u, p) == (len(out)%2 == 0) || tries > 100*n {
			out = append(out, [2]int{u, p})
		}
	}
	return out
}

// UsersOf returns the users of one scope kind: "global", "program" or
// "project" ("" or "all": every user).
func (d *Data) UsersOf(kind string) []int {
	if kind == "" || kind == "all" {
		return d.Users
	}
	var out []int
	for _, u := range d.Users {
		if strings.EqualFold(string(d.Kind[u]), kind) {
			out = append(out, u)
		}
	}
	return out
}

// Scaled returns the shape with n times the programs and users (projects per
// program unchanged): the benchmark workload's shape (docs/design.md, section 7) at 10x or 100x.
func (s Shape) Scaled(n int) Shape {
	return Shape{Programs: s.Programs * n, ProjectsPerProgram: s.ProjectsPerProgram,
		Global: s.Global * n, ProgramScoped: s.ProgramScoped * n, Projects: s.Projects * n}
}
