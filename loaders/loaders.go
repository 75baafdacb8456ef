// Package loaders batches the lookups of one GraphQL request. A Loaders is
// built for every request (by the HTTP layer, right after authentication, see
// httpapi) and never shared: its per-key memoization is only valid for the
// request's viewer and moment.
package loaders

import (
	"context"
	"time"

	"authz-gateway/access"
	"authz-gateway/authz"
	"authz-gateway/cache"
	"authz-gateway/ent"
	"authz-gateway/reqctx"

	"github.com/vikstrous/dataloadgen"
)

// DefaultWait is how long the loader of other users' answers and the entity
// loaders collect keys before fetching. dataloadgen defaults to 16 ms, which
// alone would dominate a request answered from Redis in well under a
// millisecond. Measured (README, Performance): gqlgen starts sibling field
// resolvers within microseconds, but Go's timers sleep at least ~1 ms when the
// process is idle (the netpoller's millisecond resolution), so any window
// below 1 ms costs about the same; 200 µs is what a busy process gets. The
// viewer's own answers use no window at all (see PrefetchViewer).
const DefaultWait = 200 * time.Microsecond

// Loaders holds one request's loaders.
type Loaders struct {
	// viewer serves the viewer's own answers: all four are requested when
	// the operation starts and fetched the moment the fourth is added (batch
	// capacity), without a batching window: every key it holds is known up
	// front.
	viewer   *dataloadgen.Loader[cache.Key, authz.Answer]
	viewerID int
	// answers batches other users' answers (lists of users).
	answers           *dataloadgen.Loader[cache.Key, authz.Answer]
	users             *dataloadgen.Loader[int, *ent.User]
	roles             *dataloadgen.Loader[int, *ent.Role]
	programs          *dataloadgen.Loader[int, *ent.Program]
	projects          *dataloadgen.Loader[int, *ent.Project]
	projectsByProgram *dataloadgen.Loader[int, []*ent.Project]
	rolesByUser       *dataloadgen.Loader[int, []*ent.RoleAssignment]
	scopesByUser      *dataloadgen.Loader[int, []*ent.ScopeAssignment]
}

// New returns loaders over db and svc that wait `wait` to batch.
func New(db *ent.Client, svc *authz.Service, wait time.Duration) *Loaders {
	opt := dataloadgen.WithWait(wait)
	f := fetchers{db: db, svc: svc}
	return &Loaders{
		viewer: dataloadgen.NewLoader(f.answers,
			dataloadgen.WithBatchCapacity(len(cache.Kinds)), dataloadgen.WithWait(wait)),
		answers:           dataloadgen.NewLoader(f.answers, opt),
		users:             dataloadgen.NewLoader(byID(f.users, func(u *ent.User) int { return u.ID }), opt),
		roles:             dataloadgen.NewLoader(byID(f.roles, func(r *ent.Role) int { return r.ID }), opt),
		programs:          dataloadgen.NewLoader(byID(f.programs, func(p *ent.Program) int { return p.ID }), opt),
		projects:          dataloadgen.NewLoader(byID(f.projects, func(p *ent.Project) int { return p.ID }), opt),
		projectsByProgram: dataloadgen.NewLoader(f.projectsByProgram, opt),
		rolesByUser:       dataloadgen.NewLoader(f.roleAssignmentsByUser, opt),
		scopesByUser:      dataloadgen.NewLoader(f.scopeAssignmentsByUser, opt),
	}
}

type contextKey struct{}

// NewContext returns ctx carrying l, with the viewer's reach (which the ent
// privacy rules read) resolved through l: once per request.
func NewContext(ctx context.Context, l *Loaders) context.Context {
	ctx = context.WithValue(ctx, contextKey{}, l)
	if v, ok := reqctx.ViewerFromContext(ctx); ok {
		l.viewerID = v.UserID
	}
	return reqctx.NewContextWithReach(ctx, l.viewerReach)
}

// PrefetchViewer requests the viewer's four answers without waiting for them,
// in one round trip, so `me { ... }` and every privacy check find them ready.
// Call it once an operation is about to execute: a request rejected earlier
// (malformed, invalid) then costs no lookup.
func (l *Loaders) PrefetchViewer(ctx context.Context) {
	if l.viewerID != 0 {
		l.viewer.LoadAllThunk(ctx, authz.ReachKeys(l.viewerID))
	}
}

// For returns the request's loaders. It panics if none were installed,
// which is a wiring bug, not a request error.
func For(ctx context.Context) *Loaders {
	l, ok := ctx.Value(contextKey{}).(*Loaders)
	if !ok {
		panic("loaders: no loaders in context; build them per request with NewContext")
	}
	return l
}

func (l *Loaders) viewerReach(ctx context.Context) (access.Reach, error) {
	v, ok := reqctx.ViewerFromContext(ctx)
	if !ok {
		return access.Reach{}, reqctx.ErrNoViewer
	}
	keys := authz.ReachKeys(v.UserID)
	answers, err := l.viewer.LoadAll(ctx, keys)
	if err != nil {
		for _, k := range keys {
			l.viewer.Clear(k)
		}
		return access.Reach{}, err
	}
	byKey := make(map[cache.Key]authz.Answer, len(keys))
	for i, k := range keys {
		byKey[k] = answers[i]
	}
	return authz.ReachFromAnswers(v.UserID, byKey), nil
}

// Forget drops everything the loaders memoized: called after a write, so what
// the request reads next reflects it.
func (l *Loaders) Forget() {
	l.viewer.ClearAll()
	l.answers.ClearAll()
	l.users.ClearAll()
	l.roles.ClearAll()
	l.programs.ClearAll()
	l.projects.ClearAll()
	l.projectsByProgram.ClearAll()
	l.rolesByUser.ClearAll()
	l.scopesByUser.ClearAll()
}

// Reach returns the viewer's reach for this request.
func (l *Loaders) Reach(ctx context.Context) (access.Reach, error) { return l.viewerReach(ctx) }

// answer loads one answer. A failed batch is forgotten, so a later field of
// the same request tries again instead of repeating the error.
func (l *Loaders) answer(ctx context.Context, kind cache.Kind, userID int) (authz.Answer, error) {
	loader := l.answers
	if userID == l.viewerID {
		loader = l.viewer
	}
	key := cache.Key{Kind: kind, UserID: userID}
	a, err := loader.Load(ctx, key)
	if err != nil {
		loader.Clear(key)
	}
	return a, err
}

// Permissions returns a user's permissions.
func (l *Loaders) Permissions(ctx context.Context, userID int) ([]access.Permission, error) {
	a, err := l.answer(ctx, cache.Permissions, userID)
	return a.Permissions, err
}

// AccessibleProgramIDs returns the IDs of a user's accessible programs.
func (l *Loaders) AccessibleProgramIDs(ctx context.Context, userID int) ([]int, error) {
	a, err := l.answer(ctx, cache.AccessiblePrograms, userID)
	return a.IDs, err
}

// AccessibleProjectIDs returns the IDs of a user's accessible projects.
func (l *Loaders) AccessibleProjectIDs(ctx context.Context, userID int) ([]int, error) {
	a, err := l.answer(ctx, cache.AccessibleProjects, userID)
	return a.IDs, err
}

// ScopeSummary returns a user's scope summary.
func (l *Loaders) ScopeSummary(ctx context.Context, userID int) (authz.ScopeSummary, error) {
	a, err := l.answer(ctx, cache.ScopeSummary, userID)
	return a.Summary, err
}

// User returns a user the viewer may read, or nil.
func (l *Loaders) User(ctx context.Context, id int) (*ent.User, error) { return l.users.Load(ctx, id) }

// PrimeUser stores a user already loaded (the authenticated viewer).
func (l *Loaders) PrimeUser(u *ent.User) { l.users.Prime(u.ID, u) }

// Role returns a role, or nil.
func (l *Loaders) Role(ctx context.Context, id int) (*ent.Role, error) { return l.roles.Load(ctx, id) }

// Program returns a program the viewer may read, or nil.
func (l *Loaders) Program(ctx context.Context, id int) (*ent.Program, error) {
	return l.programs.Load(ctx, id)
}

// Programs returns the programs among ids the viewer may read, in ids order.
func (l *Loaders) Programs(ctx context.Context, ids []int) ([]*ent.Program, error) {
	return visible(l.programs.LoadAll(ctx, ids))
}

// Project returns a project the viewer may read, or nil.
func (l *Loaders) Project(ctx context.Context, id int) (*ent.Project, error) {
	return l.projects.Load(ctx, id)
}

// Projects returns the projects among ids the viewer may read, in ids order.
func (l *Loaders) Projects(ctx context.Context, ids []int) ([]*ent.Project, error) {
	return visible(l.projects.LoadAll(ctx, ids))
}

// ProjectsOfProgram returns the program's projects the viewer may read.
func (l *Loaders) ProjectsOfProgram(ctx context.Context, programID int) ([]*ent.Project, error) {
	return l.projectsByProgram.Load(ctx, programID)
}

// RoleAssignmentsOfUser returns a user's role assignments.
func (l *Loaders) RoleAssignmentsOfUser(ctx context.Context, userID int) ([]*ent.RoleAssignment, error) {
	return l.rolesByUser.Load(ctx, userID)
}

// ScopeAssignmentsOfUser returns a user's scope assignments.
func (l *Loaders) ScopeAssignmentsOfUser(ctx context.Context, userID int) ([]*ent.ScopeAssignment, error) {
	return l.scopesByUser.Load(ctx, userID)
}

// visible drops the nils (rows the viewer may not read) from a LoadAll.
func visible[T any](items []*T, err error) ([]*T, error) {
	if err != nil {
		return nil, err
	}
	out := make([]*T, 0, len(items))
	for _, it := range items {
		if it != nil {
			out = append(out, it)
		}
	}
	return out, nil
}
