package loaders

import (
	"context"
	"slices"

	"authz-gateway/answers"
	"authz-gateway/ent"
	"authz-gateway/ent/accesschangeuser"
	"authz-gateway/ent/predicate"
	"authz-gateway/ent/program"
	"authz-gateway/ent/project"
	"authz-gateway/ent/role"
	"authz-gateway/ent/roleassignment"
	"authz-gateway/ent/scopeassignment"
	"authz-gateway/ent/team"
	"authz-gateway/ent/teammembership"
	"authz-gateway/ent/user"
)

// fetchers are the batch functions. Entity fetches run in the request's
// context, so the ent privacy rules filter them: a row the viewer may not read
// comes back as nil (null in GraphQL), exactly like a row that does not exist.
// Each is one SQL statement for the whole batch.
//
// Every fanning-out edge uses a loader rather than entgql's eager loading
// (field collection): the edges are reached from objects that do not come
// from one ent query (cached accessible IDs, mutation results, node lookups),
// where eager loading cannot apply, and a loader batches them all the same.
type fetchers struct {
	db     *ent.Client
	source *answers.Source
}

// answers is one cache round trip for all kinds and users of the batch (and
// one query per kind for the misses).
func (f fetchers) answers(ctx context.Context, keys []answers.Key) ([]answers.Answer, []error) {
	got, err := f.source.Answers(ctx, keys)
	if err != nil {
		return nil, []error{err}
	}
	out := make([]answers.Answer, len(keys))
	for i, k := range keys {
		out[i] = got[k]
	}
	return out, nil
}

// reaches fetches each user's four reach answers, whole, in one call.
func (f fetchers) reaches(ctx context.Context, users []int) ([]map[answers.Kind]answers.Answer, []error) {
	keys := make([]answers.Key, 0, 4*len(users))
	for _, u := range users {
		keys = append(keys, answers.ReachKeys(u)...)
	}
	got, err := f.source.Answers(ctx, keys)
	if err != nil {
		return nil, []error{err}
	}
	out := make([]map[answers.Kind]answers.Answer, len(users))
	for i, u := range users {
		whole := make(map[answers.Kind]answers.Answer, 4)
		for _, k := range answers.ReachKeys(u) {
			whole[k.Kind] = got[k]
		}
		out[i] = whole
	}
	return out, nil
}

func (f fetchers) users(ctx context.Context, ids []int) ([]*ent.User, error) {
	return f.db.User.Query().Where(user.IDIn(ids...)).All(ctx)
}

func (f fetchers) teams(ctx context.Context, ids []int) ([]*ent.Team, error) {
	return f.db.Team.Query().Where(team.IDIn(ids...)).All(ctx)
}

// teamsByUser reads the users' live memberships with their teams (the
// teams under the viewer's read rule: one the viewer may not read is left
// out), one statement each.
func (f fetchers) teamsByUser(ctx context.Context, userIDs []int) ([][]*ent.Team, []error) {
	rows, err := f.db.TeamMembership.Query().
		Where(teammembership.UserIDIn(userIDs...), teammembership.Active(true), predicate.TeamMembership(answers.NotEnded)).
		Order(ent.Asc(teammembership.FieldTeamID)).
		WithTeam().
		All(ctx)
	rows = slices.DeleteFunc(rows, func(m *ent.TeamMembership) bool { return m.Edges.Team == nil })
	memberships, errs := groupBy(userIDs, rows, err, func(m *ent.TeamMembership) int { return m.UserID })
	if errs != nil {
		return nil, errs
	}
	out := make([][]*ent.Team, len(memberships))
	for i, ms := range memberships {
		out[i] = make([]*ent.Team, len(ms))
		for j, m := range ms {
			out[i][j] = m.Edges.Team
		}
	}
	return out, nil
}

func (f fetchers) roles(ctx context.Context, ids []int) ([]*ent.Role, error) {
	return f.db.Role.Query().Where(role.IDIn(ids...)).All(ctx)
}

func (f fetchers) programs(ctx context.Context, ids []int) ([]*ent.Program, error) {
	return f.db.Program.Query().Where(program.IDIn(ids...)).All(ctx)
}

func (f fetchers) projects(ctx context.Context, ids []int) ([]*ent.Project, error) {
	return f.db.Project.Query().Where(project.IDIn(ids...)).All(ctx)
}

func (f fetchers) projectsByProgram(ctx context.Context, programIDs []int) ([][]*ent.Project, []error) {
	rows, err := f.db.Project.Query().
		Where(project.ProgramIDIn(programIDs...)).
		Order(ent.Asc(project.FieldID)).
		All(ctx)
	return groupBy(programIDs, rows, err, func(p *ent.Project) int { return p.ProgramID })
}

func (f fetchers) roleAssignmentsByUser(ctx context.Context, userIDs []int) ([][]*ent.RoleAssignment, []error) {
	rows, err := f.db.RoleAssignment.Query().
		Where(roleassignment.UserIDIn(userIDs...)).
		Order(ent.Asc(roleassignment.FieldID)).
		All(ctx)
	return groupBy(userIDs, rows, err, func(ra *ent.RoleAssignment) int { return *ra.UserID })
}

func (f fetchers) scopeAssignmentsByUser(ctx context.Context, userIDs []int) ([][]*ent.ScopeAssignment, []error) {
	rows, err := f.db.ScopeAssignment.Query().
		Where(scopeassignment.UserIDIn(userIDs...)).
		Order(ent.Asc(scopeassignment.FieldID)).
		All(ctx)
	return groupBy(userIDs, rows, err, func(sa *ent.ScopeAssignment) int { return *sa.UserID })
}

func (f fetchers) affectedByChange(ctx context.Context, changeIDs []int) ([][]*ent.AccessChangeUser, []error) {
	rows, err := f.db.AccessChangeUser.Query().
		Where(accesschangeuser.ChangeIDIn(changeIDs...)).
		Order(ent.Asc(accesschangeuser.FieldUserID)).
		All(ctx)
	return groupBy(changeIDs, rows, err, func(r *ent.AccessChangeUser) int { return r.ChangeID })
}

// maxParams bounds the IDs of one statement: PostgreSQL takes at most 65,535
// parameters, and a user may reach more projects than that.
const maxParams = 10_000

// byID adapts a fetch of rows by ID to dataloadgen: results aligned with ids,
// nil where no readable row exists. Large batches are fetched in chunks.
func byID[T any](fetch func(context.Context, []int) ([]T, error), id func(T) int) func(context.Context, []int) ([]T, []error) {
	return func(ctx context.Context, ids []int) ([]T, []error) {
		var rows []T
		for chunk := range slices.Chunk(ids, maxParams) {
			got, err := fetch(ctx, chunk)
			if err != nil {
				return nil, []error{err}
			}
			rows = append(rows, got...)
		}
		found := make(map[int]T, len(rows))
		for _, r := range rows {
			found[id(r)] = r
		}
		out := make([]T, len(ids))
		for i, k := range ids {
			out[i] = found[k]
		}
		return out, nil
	}
}

// groupBy aligns child rows with their parent keys; a parent without children
// gets an empty list.
func groupBy[T any](keys []int, rows []T, err error, parent func(T) int) ([][]T, []error) {
	if err != nil {
		return nil, []error{err}
	}
	byParent := make(map[int][]T, len(keys))
	for _, r := range rows {
		byParent[parent(r)] = append(byParent[parent(r)], r)
	}
	out := make([][]T, len(keys))
	for i, k := range keys {
		out[i] = byParent[k]
		if out[i] == nil {
			out[i] = []T{}
		}
	}
	return out, nil
}
