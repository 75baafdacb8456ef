// Package loaders batches the lookups of one GraphQL request. A Loaders is
// built for every operation (NewRequestContext, by the gate) and never
// shared: its per-key memoization is only valid for the request's viewer and
// moment. Loaders batch; they decide nothing about authorization: entity
// fetches run under the ent privacy rules, and the viewer's own answers come
// from the authz service's per-request memo.
package loaders

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"authz-gateway/access"
	"authz-gateway/answers"
	"authz-gateway/authz"
	"authz-gateway/ent"
	"authz-gateway/reqctx"
	"authz-gateway/tracing"

	"github.com/vikstrous/dataloadgen"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// DefaultWait is how long the loaders collect keys before fetching.
// dataloadgen defaults to 16 ms, which alone would dominate a request
// answered from Redis in well under a millisecond. Measured
// (docs/performance.md): gqlgen starts sibling field resolvers within microseconds,
// but Go's timers sleep at least ~1 ms when the process is idle (the
// netpoller's millisecond resolution), so any window below 1 ms costs about
// the same; 200 µs is what a busy process gets. The viewer's own answers use
// no window at all (the gate's resolution reads them, authz.ResolveViewer).
const DefaultWait = 200 * time.Microsecond

// Loaders holds one request's loaders. Each is built on its first use: an
// operation uses one or two of them (a check none), and building all nine
// for every request was 5 % of the gateway's CPU at 16 clients
// (docs/performance.md, "Where a check's time goes").
type Loaders struct {
	f *Factory
	// answers batches other users' answers (lists of users); the viewer's
	// come from authz.ViewerAnswer.
	answersL lazy[answers.Key, answers.Answer]
	// reachesL batches other users' four reach answers, whole: a request
	// reads every reach answer of a user from one fetch, so that it never
	// combines two states of the user (a torn answer).
	reachesL           lazy[int, map[answers.Kind]answers.Answer]
	usersL             lazy[int, *ent.User]
	rolesL             lazy[int, *ent.Role]
	programsL          lazy[int, *ent.Program]
	projectsL          lazy[int, *ent.Project]
	projectsByProgramL lazy[int, []*ent.Project]
	rolesByUserL       lazy[int, []*ent.RoleAssignment]
	scopesByUserL      lazy[int, []*ent.ScopeAssignment]
	affectedByChangeL  lazy[int, []*ent.AccessChangeUser]
	teamsL             lazy[int, *ent.Team]
	teamsByUserL       lazy[int, []*ent.Team]
	// catalogPrimed are the kinds whose catalog list PreloadCatalog has put
	// in the answers loader: it is not fetched again.
	catalogMu     sync.Mutex
	catalogPrimed map[answers.Kind]bool
}

// Factory holds what every request's loaders share: the batch functions
// over the database and the authz service, and the batching window. Build
// one per process (NewFactory) and a Loaders per operation from it.
type Factory struct {
	db  *ent.Client
	opt dataloadgen.Option
	// The batch functions; the lookahead calls the first three itself
	// (preload): what it knows ahead goes out in one call, never split by a
	// batching window.
	fetchAnswers      func(context.Context, []answers.Key) ([]answers.Answer, []error)
	fetchReaches      func(context.Context, []int) ([]map[answers.Kind]answers.Answer, []error)
	fetchPrograms     func(context.Context, []int) ([]*ent.Program, []error)
	fetchProjects     func(context.Context, []int) ([]*ent.Project, []error)
	fetchUsers        func(context.Context, []int) ([]*ent.User, []error)
	fetchRoles        func(context.Context, []int) ([]*ent.Role, []error)
	projectsByProgram func(context.Context, []int) ([][]*ent.Project, []error)
	rolesByUser       func(context.Context, []int) ([][]*ent.RoleAssignment, []error)
	scopesByUser      func(context.Context, []int) ([][]*ent.ScopeAssignment, []error)
	affectedByChange  func(context.Context, []int) ([][]*ent.AccessChangeUser, []error)
	fetchTeams        func(context.Context, []int) ([]*ent.Team, []error)
	teamsByUser       func(context.Context, []int) ([][]*ent.Team, []error)
}

// NewFactory returns the loaders' factory over db and src, batching for
// wait (<= 0: DefaultWait).
func NewFactory(db *ent.Client, src *answers.Source, wait time.Duration) *Factory {
	if wait <= 0 {
		wait = DefaultWait
	}
	f := fetchers{db: db, source: src}
	return &Factory{
		db:                db,
		opt:               dataloadgen.WithWait(wait),
		fetchAnswers:      traced("answers", f.answers),
		fetchReaches:      traced("reaches", f.reaches),
		fetchPrograms:     traced("programs", byID(f.programs, func(p *ent.Program) int { return p.ID })),
		fetchProjects:     traced("projects", byID(f.projects, func(p *ent.Project) int { return p.ID })),
		fetchUsers:        traced("users", byID(f.users, func(u *ent.User) int { return u.ID })),
		fetchRoles:        traced("roles", byID(f.roles, func(r *ent.Role) int { return r.ID })),
		projectsByProgram: traced("projectsByProgram", f.projectsByProgram),
		rolesByUser:       traced("rolesByUser", f.roleAssignmentsByUser),
		scopesByUser:      traced("scopesByUser", f.scopeAssignmentsByUser),
		affectedByChange:  traced("affectedByChange", f.affectedByChange),
		fetchTeams:        traced("teams", byID(f.teams, func(t *ent.Team) int { return t.ID })),
		teamsByUser:       traced("teamsByUser", f.teamsByUser),
	}
}

// New returns fresh loaders for one operation.
func (f *Factory) New() *Loaders { return &Loaders{f: f} }

// New returns loaders over db and src that wait `wait` to batch (a factory
// of their own: where loaders are built rarely, as for a subscription's
// pushes).
func New(db *ent.Client, src *answers.Source, wait time.Duration) *Loaders {
	return NewFactory(db, src, wait).New()
}

// lazy is a loader built on its first use.
type lazy[K comparable, V any] struct {
	mu sync.Mutex
	l  atomic.Pointer[dataloadgen.Loader[K, V]]
}

func (z *lazy[K, V]) get(fetch func(context.Context, []K) ([]V, []error), opt dataloadgen.Option) *dataloadgen.Loader[K, V] {
	if l := z.l.Load(); l != nil {
		return l
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	if l := z.l.Load(); l != nil {
		return l
	}
	l := dataloadgen.NewLoader(fetch, opt)
	z.l.Store(l)
	return l
}

// clearAll forgets what the loader memoized, if it was ever built.
func (z *lazy[K, V]) clearAll() {
	if l := z.l.Load(); l != nil {
		l.ClearAll()
	}
}

func (l *Loaders) answers() *dataloadgen.Loader[answers.Key, answers.Answer] {
	return l.answersL.get(l.f.fetchAnswers, l.f.opt)
}
func (l *Loaders) reaches() *dataloadgen.Loader[int, map[answers.Kind]answers.Answer] {
	return l.reachesL.get(l.f.fetchReaches, l.f.opt)
}
func (l *Loaders) users() *dataloadgen.Loader[int, *ent.User] {
	return l.usersL.get(l.f.fetchUsers, l.f.opt)
}
func (l *Loaders) teams() *dataloadgen.Loader[int, *ent.Team] {
	return l.teamsL.get(l.f.fetchTeams, l.f.opt)
}
func (l *Loaders) teamsOfUser() *dataloadgen.Loader[int, []*ent.Team] {
	return l.teamsByUserL.get(l.f.teamsByUser, l.f.opt)
}
func (l *Loaders) roles() *dataloadgen.Loader[int, *ent.Role] {
	return l.rolesL.get(l.f.fetchRoles, l.f.opt)
}
func (l *Loaders) programs() *dataloadgen.Loader[int, *ent.Program] {
	return l.programsL.get(l.f.fetchPrograms, l.f.opt)
}
func (l *Loaders) projects() *dataloadgen.Loader[int, *ent.Project] {
	return l.projectsL.get(l.f.fetchProjects, l.f.opt)
}
func (l *Loaders) projectsByProgram() *dataloadgen.Loader[int, []*ent.Project] {
	return l.projectsByProgramL.get(l.f.projectsByProgram, l.f.opt)
}
func (l *Loaders) rolesByUser() *dataloadgen.Loader[int, []*ent.RoleAssignment] {
	return l.rolesByUserL.get(l.f.rolesByUser, l.f.opt)
}
func (l *Loaders) scopesByUser() *dataloadgen.Loader[int, []*ent.ScopeAssignment] {
	return l.scopesByUserL.get(l.f.scopesByUser, l.f.opt)
}
func (l *Loaders) affectedByChange() *dataloadgen.Loader[int, []*ent.AccessChangeUser] {
	return l.affectedByChangeL.get(l.f.affectedByChange, l.f.opt)
}

// traced wraps a batch function in a span "loader.<name>" with the batch's
// size (a no-op span while tracing is off).
func traced[K comparable, V any](name string, fetch func(context.Context, []K) ([]V, []error)) func(context.Context, []K) ([]V, []error) {
	return func(ctx context.Context, keys []K) ([]V, []error) {
		ctx, span := tracing.Tracer().Start(ctx, "loader."+name, trace.WithAttributes(attribute.Int("loader.batch_size", len(keys))))
		defer span.End()
		values, errs := fetch(ctx, keys)
		for _, err := range errs {
			if err != nil {
				span.SetStatus(codes.Error, err.Error())
				break
			}
		}
		return values, errs
	}
}

// NewRequestContext returns ctx with fresh loaders for one operation,
// primed with the viewer's user row that authentication read
// (authz.ViewerUser). The gate calls it for every operation.
func (f *Factory) NewRequestContext(ctx context.Context) context.Context {
	l := f.New()
	if u := authz.ViewerUser(ctx); u != nil {
		l.users().Prime(u.ID, u)
	}
	return NewContext(ctx, l)
}

type contextKey struct{}

// NewContext returns ctx carrying l.
func NewContext(ctx context.Context, l *Loaders) context.Context {
	return context.WithValue(ctx, contextKey{}, l)
}

// For returns the request's loaders. It panics if none were installed,
// which is a wiring bug, not a request error.
func For(ctx context.Context) *Loaders {
	l, ok := ctx.Value(contextKey{}).(*Loaders)
	if !ok {
		panic("loaders: no loaders in context; build them per operation with NewRequestContext")
	}
	return l
}

// Forget drops everything the loaders memoized: called after a write, so what
// the request reads next reflects it.
func (l *Loaders) Forget() {
	l.answersL.clearAll()
	l.reachesL.clearAll()
	l.usersL.clearAll()
	l.rolesL.clearAll()
	l.programsL.clearAll()
	l.projectsL.clearAll()
	l.projectsByProgramL.clearAll()
	l.rolesByUserL.clearAll()
	l.scopesByUserL.clearAll()
	l.affectedByChangeL.clearAll()
	l.catalogMu.Lock()
	clear(l.catalogPrimed)
	l.catalogMu.Unlock()
}

// answer loads one answer: the viewer's from the request's memo, anyone
// else's through the batch. A failed batch is forgotten, so a later field of
// the same request tries again instead of repeating the error.
func (l *Loaders) answer(ctx context.Context, kind answers.Kind, userID int) (answers.Answer, error) {
	key := answers.Key{Kind: kind, UserID: userID}
	if a, ok, err := authz.ViewerAnswer(ctx, key); ok {
		return a, err
	}
	if userID != answers.CatalogUser && answers.IsReachKind(kind) {
		whole, err := l.reaches().Load(ctx, userID)
		if err != nil {
			l.reaches().Clear(userID)
		}
		return whole[kind], err
	}
	a, err := l.answers().Load(ctx, key)
	if err != nil {
		l.answers().Clear(key)
	}
	return a, err
}

// Permissions returns a user's permissions.
func (l *Loaders) Permissions(ctx context.Context, userID int) ([]access.Permission, error) {
	a, err := l.answer(ctx, answers.KindPermissions, userID)
	return a.Permissions, err
}

// AccessibleProgramIDs returns the IDs of a user's accessible programs. For
// a user who reaches every program the cached answer says "all", and the
// list is read from the database (once per request), as far as the viewer
// may read it.
func (l *Loaders) AccessibleProgramIDs(ctx context.Context, userID int) ([]int, error) {
	return l.accessibleIDs(ctx, answers.KindAccessiblePrograms, userID)
}

// AccessibleProjectIDs returns the IDs of a user's accessible projects (see
// AccessibleProgramIDs).
func (l *Loaders) AccessibleProjectIDs(ctx context.Context, userID int) ([]int, error) {
	return l.accessibleIDs(ctx, answers.KindAccessibleProjects, userID)
}

// accessibleIDs reads a user's list; "every one" (a GLOBAL scope) is the
// catalog's own list, one answer shared by every GLOBAL user and cached
// like any other (under answers.CatalogUser), so a warm request reads no
// table. It is fetched at once (primeCatalog), not through the batching
// window.
func (l *Loaders) accessibleIDs(ctx context.Context, kind answers.Kind, userID int) ([]int, error) {
	a, err := l.answer(ctx, kind, userID)
	if err != nil || !a.All {
		return a.IDs, err
	}
	if err := l.primeCatalog(ctx, kind); err != nil {
		return nil, err
	}
	all, err := l.answer(ctx, kind, answers.CatalogUser)
	return all.IDs, err
}

// ScopeSummary returns a user's scope summary.
func (l *Loaders) ScopeSummary(ctx context.Context, userID int) (answers.ScopeSummary, error) {
	a, err := l.answer(ctx, answers.KindScopeSummary, userID)
	return a.Summary, err
}

// User returns a user the viewer may read, or nil.
func (l *Loaders) User(ctx context.Context, id int) (*ent.User, error) {
	return l.users().Load(ctx, id)
}

// Users returns the users among ids the viewer may read, in ids order, in
// one batch.
func (l *Loaders) Users(ctx context.Context, ids []int) ([]*ent.User, error) {
	return visible(l.users().LoadAll(ctx, ids))
}

// Team returns a team the viewer may read, or nil.
func (l *Loaders) Team(ctx context.Context, id int) (*ent.Team, error) {
	return l.teams().Load(ctx, id)
}

// TeamsOf returns the teams user is an active member of (memberships not
// ended) that the viewer may read, by ID.
func (l *Loaders) TeamsOf(ctx context.Context, user int) ([]*ent.Team, error) {
	return l.teamsOfUser().Load(ctx, user)
}

// Role returns a role, or nil.
func (l *Loaders) Role(ctx context.Context, id int) (*ent.Role, error) {
	return l.roles().Load(ctx, id)
}

// Program returns a program the viewer may read, or nil.
func (l *Loaders) Program(ctx context.Context, id int) (*ent.Program, error) {
	return l.programs().Load(ctx, id)
}

// Programs returns the programs among ids the viewer may read, in ids order.
func (l *Loaders) Programs(ctx context.Context, ids []int) ([]*ent.Program, error) {
	return visible(l.programs().LoadAll(ctx, ids))
}

// Project returns a project the viewer may read, or nil.
func (l *Loaders) Project(ctx context.Context, id int) (*ent.Project, error) {
	return l.projects().Load(ctx, id)
}

// Projects returns the projects among ids the viewer may read, in ids order.
func (l *Loaders) Projects(ctx context.Context, ids []int) ([]*ent.Project, error) {
	return visible(l.projects().LoadAll(ctx, ids))
}

// ProjectsOfProgram returns the program's projects the viewer may read.
func (l *Loaders) ProjectsOfProgram(ctx context.Context, programID int) ([]*ent.Project, error) {
	return l.projectsByProgram().Load(ctx, programID)
}

// RoleAssignmentsOfUser returns a user's role assignments.
func (l *Loaders) RoleAssignmentsOfUser(ctx context.Context, userID int) ([]*ent.RoleAssignment, error) {
	return l.rolesByUser().Load(ctx, userID)
}

// ScopeAssignmentsOfUser returns a user's scope assignments.
func (l *Loaders) ScopeAssignmentsOfUser(ctx context.Context, userID int) ([]*ent.ScopeAssignment, error) {
	return l.scopesByUser().Load(ctx, userID)
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

// AffectedUsers returns the users an access change affected that the viewer
// may read.
func (l *Loaders) AffectedUsers(ctx context.Context, changeID int) ([]*ent.User, error) {
	rows, err := l.affectedByChange().Load(ctx, changeID)
	if err != nil {
		return nil, err
	}
	ids := make([]int, len(rows))
	for i, r := range rows {
		ids[i] = r.UserID
	}
	return visible(l.users().LoadAll(ctx, ids))
}

// PreloadAnswers loads the given kinds of answers for users in one batch
// (the viewer's come from the request's memo). A failed batch is forgotten.
func (l *Loaders) PreloadAnswers(ctx context.Context, users []int, kinds []answers.Kind) error {
	viewer, _ := reqctx.ViewerFromContext(ctx)
	seen := map[answers.Key]bool{}
	var keys []answers.Key
	wholeSeen := map[int]bool{}
	var whole []int // users whose reach answers are asked for: loaded whole
	for _, u := range users {
		if u == viewer.UserID {
			continue
		}
		reach := false
		for _, kind := range kinds {
			if answers.IsReachKind(kind) && u != answers.CatalogUser {
				reach = true
				continue
			}
			if k := (answers.Key{Kind: kind, UserID: u}); !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
		if reach && !wholeSeen[u] {
			wholeSeen[u] = true
			whole = append(whole, u)
		}
	}
	if err := preload(ctx, l.reaches(), l.f.fetchReaches, whole); err != nil {
		return err
	}
	return preload(ctx, l.answers(), l.f.fetchAnswers, keys)
}

// preload fetches keys in one call of the loader's batch function and
// primes the loader with the answers. A loader's LoadAll adds its keys one
// at a time while the batching window runs: on a machine busy with other
// processes the window can close halfway and split the batch (issue 21
// measured the scope query run 5 times in one request). The lookahead knows
// every key before it dispatches, so no timer decides here.
func preload[K comparable, V any](ctx context.Context, loader *dataloadgen.Loader[K, V], fetch func(context.Context, []K) ([]V, []error), keys []K) error {
	if len(keys) == 0 {
		return nil
	}
	values, errs := fetch(ctx, keys)
	for i, k := range keys {
		switch {
		case len(errs) == 1 && errs[0] != nil:
			return errs[0]
		case i < len(errs) && errs[i] != nil:
			return errs[i]
		case i < len(values):
			loader.Prime(k, values[i])
		}
	}
	return nil
}

// PreloadCatalog loads, in one batch, the catalog's lists (every program,
// every project) that the users' GLOBAL answers of kinds stand for (their
// answers must be loaded): one batch whatever the page holds.
func (l *Loaders) PreloadCatalog(ctx context.Context, users []int, kinds ...answers.Kind) error {
	var global []answers.Kind
	for _, kind := range kinds {
		for _, u := range users {
			a, err := l.answer(ctx, kind, u)
			if err != nil {
				return err
			}
			if a.All {
				global = append(global, kind)
				break
			}
		}
	}
	return l.primeCatalog(ctx, global...)
}

// primeCatalog fetches the catalog's lists of kinds, those this request
// has not fetched yet, in one batch and with no batching window: a GLOBAL
// viewer's list waited there for keys that never come (200 µs asked,
// about a millisecond on a busy machine's timers).
func (l *Loaders) primeCatalog(ctx context.Context, kinds ...answers.Kind) error {
	l.catalogMu.Lock()
	var keys []answers.Key
	for _, kind := range kinds {
		key := answers.Key{Kind: kind, UserID: answers.CatalogUser}
		if !l.catalogPrimed[kind] && !slices.Contains(keys, key) {
			keys = append(keys, key)
		}
	}
	l.catalogMu.Unlock()
	if err := preload(ctx, l.answers(), l.f.fetchAnswers, keys); err != nil {
		return err
	}
	l.catalogMu.Lock()
	if l.catalogPrimed == nil {
		l.catalogPrimed = map[answers.Kind]bool{}
	}
	for _, k := range keys {
		l.catalogPrimed[k.Kind] = true
	}
	l.catalogMu.Unlock()
	return nil
}

// PreloadPrograms loads, in one batch, the programs accessible to users
// (their answers must be loaded). The fetch runs under the privacy rules,
// so what the viewer may not read comes back as nothing, as always.
func (l *Loaders) PreloadPrograms(ctx context.Context, users []int) error {
	return preloadAccessible(ctx, users, l.AccessibleProgramIDs, l.programs(), l.f.fetchPrograms)
}

// PreloadProjects: see PreloadPrograms.
func (l *Loaders) PreloadProjects(ctx context.Context, users []int) error {
	return preloadAccessible(ctx, users, l.AccessibleProjectIDs, l.projects(), l.f.fetchProjects)
}

func preloadAccessible[T any](ctx context.Context, users []int, idsOf func(context.Context, int) ([]int, error),
	loader *dataloadgen.Loader[int, *T], fetch func(context.Context, []int) ([]*T, []error)) error {
	seen := map[int]bool{}
	var all []int
	for _, u := range users {
		ids, err := idsOf(ctx, u)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if !seen[id] {
				seen[id] = true
				all = append(all, id)
			}
		}
	}
	return preload(ctx, loader, fetch, all)
}

// Reach returns a user's reach from their four answers (the viewer's from
// the request's memo, anyone else's through the batch).
func (l *Loaders) Reach(ctx context.Context, userID int) (access.Reach, error) {
	keys := answers.ReachKeys(userID)
	got := make(map[answers.Key]answers.Answer, len(keys))
	if v, ok := reqctx.ViewerFromContext(ctx); ok && v.UserID == userID {
		return reqctx.ReachFromContext(ctx)
	}
	whole, err := l.reaches().Load(ctx, userID)
	if err != nil {
		l.reaches().Clear(userID)
		return access.Reach{}, err
	}
	for _, k := range keys {
		got[k] = whole[k.Kind]
	}
	return answers.ReachFromAnswers(userID, got), nil
}
