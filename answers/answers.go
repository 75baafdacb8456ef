// Package answers is the read model of authorization: the answers the
// gateway keeps for each user (permissions, accessible programs and
// projects, scope summary, status) and the catalog's own, computed from the
// database in batches (one SQL statement per kind, one snapshot per batch)
// and served through the cache. The authz package decides with them; this
// one only knows how to compute and read them.
package answers

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"time"
	"unsafe"

	"authz-gateway/access"
	"authz-gateway/cache"
	"authz-gateway/ent"
	"authz-gateway/freshness"
	"authz-gateway/reqctx"

	"entgo.io/ent/dialect"
)

// DirectScope is one active scope assignment as the scope summary lists it.
type DirectScope struct {
	ID     int `json:"id"`
	UserID int `json:"userId"`
	// TeamID: held through this team (nil: by the user).
	TeamID    *int             `json:"teamId,omitempty"`
	ScopeType access.ScopeType `json:"scopeType"`
	ProgramID *int             `json:"programId,omitempty"`
	ProjectID *int             `json:"projectId,omitempty"`
	// ExpiresAt: the scope ends on its own then (to the millisecond).
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
}

// ScopeSummary is the scope_summary answer.
type ScopeSummary struct {
	HasGlobalScope         bool          `json:"hasGlobalScope"`
	AccessibleProgramCount int           `json:"accessibleProgramCount"`
	AccessibleProjectCount int           `json:"accessibleProjectCount"`
	DirectScopes           []DirectScope `json:"directScopes"`
}

// VisibleTo is the summary as a viewer may see it: counting only the
// programs and projects the viewer may read, so the counts agree with the
// accessible lists shown beside them and reveal nothing the lists hide.
// lists reads the user's accessible program and project IDs, only when the
// viewer cannot read everything.
func (sum ScopeSummary) VisibleTo(viewer access.Reach, lists func() (programs, projects []int, err error)) (ScopeSummary, error) {
	if viewer.Global && viewer.Can(access.ProgramRead) && viewer.Can(access.ProjectRead) {
		return sum, nil
	}
	programs, projects, err := lists()
	if err != nil {
		return ScopeSummary{}, err
	}
	sum.AccessibleProgramCount = countIf(programs, viewer.CanReadProgram)
	sum.AccessibleProjectCount = countIf(projects, viewer.CanReadProject)
	return sum, nil
}

func countIf(ids []int, ok func(int) bool) int {
	n := 0
	for _, id := range ids {
		if ok(id) {
			n++
		}
	}
	return n
}

// Key names one answer: a kind for a user. The answers are what the cache
// stores, so the cache's key and kinds are the domain's names for them too.
type (
	Key  = cache.Key
	Kind = cache.Kind
)

// The kinds of answer: the four of docs/design.md, section 4, the user's status
// (authentication) and the catalog's size (kept once, for GLOBAL users'
// summaries).
const (
	KindPermissions        = cache.Permissions
	KindAccessiblePrograms = cache.AccessiblePrograms
	KindAccessibleProjects = cache.AccessibleProjects
	KindScopeSummary       = cache.ScopeSummary
	KindUser               = cache.UserStatus
	KindCatalogSize        = cache.CatalogSize
)

// CatalogKey is the one key of the catalog's size.
var CatalogKey = Key{Kind: KindCatalogSize, UserID: cache.CatalogUser}

// CatalogUser is the pseudo-user the catalog's own answers are kept under:
// its size, and under KindAccessiblePrograms and KindAccessibleProjects the
// IDs of every program and project (what a GLOBAL scope reaches), ascending.
// A catalog change invalidates it (catalogChanged), nothing else does.
const CatalogUser = cache.CatalogUser

// CatalogSize counts the programs and the projects (a GLOBAL viewer's
// counts), and the users and the projects of the largest program (what the
// cost limit prices lists by: ListBounds).
type CatalogSize struct {
	Programs       int `json:"programs"`
	Projects       int `json:"projects"`
	Users          int `json:"users"`
	LargestProgram int `json:"largestProgram"`
	// Groups are the identity provider's groups that teams mirror
	// (Team.externalGroup), sorted: what a sign-in's groups claim is
	// compared with, at no cost, on every request (AUTH_GROUPS_CLAIM).
	Groups []string `json:"groups,omitempty"`
}

// UserStatus is the user answer: what authentication needs to know.
type UserStatus struct {
	Exists bool   `json:"exists"`
	Email  string `json:"email,omitempty"`
	Name   string `json:"name,omitempty"`
	Active bool   `json:"active"`
	// ExternalID is the user's subject at the identity provider ("": none).
	ExternalID string `json:"externalId,omitempty"`
	// Groups are the groups of the teams mirroring a provider's group that
	// the user is an active member of, sorted (AUTH_GROUPS_CLAIM compares
	// them with the token's).
	Groups []string `json:"groups,omitempty"`
}

// IDSet is an accessible-programs or -projects answer: every one (a GLOBAL
// scope, stored as {"all":true} so that its size does not grow with the
// catalog), or these IDs, ascending (stored as a JSON array).
type IDSet struct {
	All bool
	IDs []int
}

// MarshalJSON writes {"all":true} or the array of IDs.
func (s IDSet) MarshalJSON() ([]byte, error) {
	if s.All {
		return []byte(`{"all":true}`), nil
	}
	return json.Marshal(orEmpty(s.IDs))
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (s *IDSet) UnmarshalJSON(data []byte) error {
	if len(data) > 0 && data[0] == '{' {
		var v struct{ All bool }
		err := json.Unmarshal(data, &v)
		*s = IDSet{All: v.All}
		return err
	}
	*s = IDSet{}
	return json.Unmarshal(data, &s.IDs)
}

// Answer is one cached authorization answer; which field is meaningful depends
// on the kind it was asked for.
type Answer struct {
	Permissions []access.Permission // cache.Permissions
	IDs         []int               // cache.AccessiblePrograms, cache.AccessibleProjects (when not All)
	All         bool                // cache.AccessiblePrograms, cache.AccessibleProjects: every one
	Summary     ScopeSummary        // cache.ScopeSummary
	User        UserStatus          // cache.UserStatus
	Catalog     CatalogSize         // cache.CatalogSize
}

// Source computes and reads answers. It is safe for concurrent use.
type Source struct {
	db    *ent.Client
	cache *cache.Cache
	res   resolver
}

// New returns the Source reading db through c. sqlDialect is ent's name of
// the database's dialect (dialect.Postgres or dialect.SQLite): it decides
// the placeholder style of the queries and whether a batch reads one
// snapshot.
func New(db *ent.Client, c *cache.Cache, sqlDialect string) *Source {
	return &Source{db: db, cache: c, res: resolver{db: db, dialect: sqlDialect}}
}

// Dialect is the database's dialect (ent's name).
func (s *Source) Dialect() string { return s.res.dialect }

// WarmUsers computes, or confirms cached, every answer a request of each
// of users needs as its viewer (warm.Source).
func (s *Source) WarmUsers(ctx context.Context, users []int) error {
	keys := make([]Key, 0, len(users)*6)
	for _, u := range users {
		keys = append(keys, ViewerKeys(u)...)
	}
	_, err := s.Answers(ctx, keys)
	return err
}

// Answers returns the answers for keys, in one cache round trip and at most
// one query per kind for the misses. An unknown user gets empty answers. A
// GLOBAL user's summary counts the whole catalog: the catalog's size is read
// in the same round trip.
func (s *Source) Answers(ctx context.Context, keys []Key) (map[Key]Answer, error) {
	fetch := wholeReach(keys)
	if slices.ContainsFunc(keys, func(k Key) bool { return k.Kind == KindScopeSummary }) {
		fetch = append(slices.Clip(fetch), CatalogKey)
	}
	out := make(map[Key]Answer, len(fetch))
	err := s.cache.EachDecoded(ctx, fetch, s.compute, decodeCached, func(k Key, a any) { out[k] = a.(Answer) })
	if err != nil {
		return nil, err
	}
	catalog := out[CatalogKey].Catalog
	for k, a := range out {
		if k.Kind == KindScopeSummary && a.Summary.HasGlobalScope {
			a.Summary.AccessibleProgramCount, a.Summary.AccessibleProjectCount = catalog.Programs, catalog.Projects
			out[k] = a
		}
	}
	return out, nil
}

// wholeReach adds to keys the other reach answers of every user they name
// one of: a user's four answers are read, computed and stored together
// (the cache computes a user whole), so that no request combines a
// summary of one state with a list of another (a torn answer). The extra
// keys cost no round trip: they ride in the same one.
func wholeReach(keys []Key) []Key {
	if len(keys) <= smallBatch {
		return wholeReachSmall(keys)
	}
	asked := make(map[Key]bool, len(keys))
	for _, k := range keys {
		asked[k] = true
	}
	var extra []Key
	seen := map[int]bool{}
	for _, k := range keys {
		if k.UserID == CatalogUser || seen[k.UserID] || !IsReachKind(k.Kind) {
			continue
		}
		seen[k.UserID] = true
		for _, kind := range reachKinds {
			if other := (Key{Kind: kind, UserID: k.UserID}); !asked[other] {
				extra = append(extra, other)
			}
		}
	}
	if len(extra) == 0 {
		return keys
	}
	return append(slices.Clip(keys), extra...)
}

// smallBatch is the size up to which wholeReach scans instead of hashing:
// a request's own viewer asks for five keys, and two maps per request cost
// more than a few comparisons.
const smallBatch = 16

// wholeReachSmall is wholeReach by scanning, allocating nothing when the
// keys are whole already.
func wholeReachSmall(keys []Key) []Key {
	var extra []Key
	for i, k := range keys {
		if k.UserID == CatalogUser || !IsReachKind(k.Kind) || slices.ContainsFunc(keys[:i], func(o Key) bool {
			return o.UserID == k.UserID && IsReachKind(o.Kind)
		}) {
			continue // not a reach answer, or its user was seen already
		}
		for _, kind := range reachKinds {
			if other := (Key{Kind: kind, UserID: k.UserID}); !slices.Contains(keys, other) && !slices.Contains(extra, other) {
				extra = append(extra, other)
			}
		}
	}
	if len(extra) == 0 {
		return keys
	}
	return append(slices.Clip(keys), extra...)
}

// compute is the cache's ComputeFunc: one query per kind among keys. A scope
// summary needs the program and project lists too, so users whose summary
// missed join those queries. Each answer ends with the earliest end among
// the time-bound grants it was built from.
func (s *Source) compute(ctx context.Context, keys []cache.Key) (map[cache.Key]cache.Computed, error) {
	ctx = reqctx.NewContextWithSystem(ctx)
	byKind := make(map[cache.Kind][]int)
	for _, k := range keys {
		byKind[k.Kind] = append(byKind[k.Kind], k.UserID)
	}
	summaries := byKind[cache.ScopeSummary]
	// The catalog's own lists are not any user's: taken apart here.
	catalogPrograms := slices.Contains(byKind[cache.AccessiblePrograms], CatalogUser)
	catalogProjects := slices.Contains(byKind[cache.AccessibleProjects], CatalogUser)
	notCatalog := func(u int) bool { return u == CatalogUser }
	byKind[cache.AccessiblePrograms] = slices.DeleteFunc(byKind[cache.AccessiblePrograms], notCatalog)
	byKind[cache.AccessibleProjects] = slices.DeleteFunc(byKind[cache.AccessibleProjects], notCatalog)
	programUsers := freshness.Union(byKind[cache.AccessiblePrograms], summaries)
	projectUsers := freshness.Union(byKind[cache.AccessibleProjects], summaries)

	res, finish, err := s.snapshot(ctx, byKind)
	if err != nil {
		return nil, err
	}
	defer finish()
	out := make(map[cache.Key]cache.Computed, len(keys))
	put := func(kind cache.Kind, user int, v any, end time.Time) error {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode %s: %w", kind, err)
		}
		out[cache.Key{Kind: kind, UserID: user}] = cache.Computed{Data: b, End: end}
		return nil
	}
	if users := byKind[cache.Permissions]; len(users) > 0 {
		perms, until, err := res.permissions(ctx, users)
		if err != nil {
			return nil, err
		}
		for _, u := range users {
			if err := put(cache.Permissions, u, perms[u], until.at(u)); err != nil {
				return nil, err
			}
		}
	}
	programs, programsUntil, err := s.idsFor(ctx, programUsers, res.programs)
	if err != nil {
		return nil, err
	}
	projects, projectsUntil, err := s.idsFor(ctx, projectUsers, res.projects)
	if err != nil {
		return nil, err
	}
	for _, u := range byKind[cache.AccessiblePrograms] {
		if err := put(cache.AccessiblePrograms, u, programs[u], programsUntil.at(u)); err != nil {
			return nil, err
		}
	}
	for _, u := range byKind[cache.AccessibleProjects] {
		if err := put(cache.AccessibleProjects, u, projects[u], projectsUntil.at(u)); err != nil {
			return nil, err
		}
	}
	for _, c := range []struct {
		asked bool
		kind  cache.Kind
		table string
	}{{catalogPrograms, cache.AccessiblePrograms, "programs"}, {catalogProjects, cache.AccessibleProjects, "projects"}} {
		if !c.asked {
			continue
		}
		ids, err := res.catalogIDs(ctx, c.table)
		if err != nil {
			return nil, err
		}
		if err := put(c.kind, CatalogUser, IDSet{IDs: ids}, time.Time{}); err != nil {
			return nil, err
		}
	}
	if len(byKind[KindCatalogSize]) > 0 {
		size, err := res.catalogSize(ctx)
		if err != nil {
			return nil, err
		}
		if err := put(KindCatalogSize, cache.CatalogUser, size, time.Time{}); err != nil {
			return nil, err
		}
	}
	if users := byKind[KindUser]; len(users) > 0 {
		statuses, until, err := res.userStatuses(ctx, users)
		if err != nil {
			return nil, err
		}
		for _, u := range users {
			if err := put(KindUser, u, statuses[u], until.at(u)); err != nil {
				return nil, err
			}
		}
	}
	if len(summaries) > 0 {
		direct, until, err := res.directScopes(ctx, summaries)
		if err != nil {
			return nil, err
		}
		for _, u := range summaries {
			// A GLOBAL user's counts come from the catalog's size when read.
			sum := summarize(direct[u], len(programs[u].IDs), len(projects[u].IDs))
			end := earliest(until.at(u), earliest(programsUntil.at(u), projectsUntil.at(u)))
			if err := put(cache.ScopeSummary, u, sum, end); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// snapshot returns the resolver a compute reads through: on PostgreSQL,
// when it runs more than one statement, inside one read-only REPEATABLE
// READ transaction, so that every answer it builds (a user's permissions,
// lists and summary) comes from one state of the database. A write
// committed between two of its statements would otherwise give, say, a
// summary from after it and a list from before it: a torn answer, true of
// neither state (issue 32, finding 3). finish ends the transaction.
func (s *Source) snapshot(ctx context.Context, byKind map[cache.Kind][]int) (res resolver, finish func(), err error) {
	statements := 0
	for _, users := range byKind {
		if len(users) > 0 {
			statements++
		}
	}
	if s.res.dialect != dialect.Postgres || (statements < 2 && len(byKind[cache.ScopeSummary]) == 0) {
		return s.res, func() {}, nil
	}
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return resolver{}, nil, fmt.Errorf("compute: begin a snapshot: %w", err)
	}
	// Read only: nothing to commit, and a rollback ends it just as well.
	return resolver{db: tx.Client(), dialect: s.res.dialect}, func() { _ = tx.Rollback() }, nil
}

func (s *Source) idsFor(ctx context.Context, users []int, query func(context.Context, []int) (map[int]IDSet, ends, error)) (map[int]IDSet, ends, error) {
	if len(users) == 0 {
		return nil, nil, nil
	}
	return query(ctx, users)
}

func summarize(direct []DirectScope, programs, projects int) ScopeSummary {
	sum := ScopeSummary{
		AccessibleProgramCount: programs,
		AccessibleProjectCount: projects,
		DirectScopes:           direct,
	}
	if sum.DirectScopes == nil {
		sum.DirectScopes = []DirectScope{}
	}
	for _, d := range direct {
		if d.ScopeType == access.ScopeGlobal {
			sum.HasGlobalScope = true
		}
	}
	return sum
}

// decodeCached is the cache's DecodeFunc: the L1 keeps answers decoded.
// They are shared between requests, so nothing may modify an Answer's
// slices.
func decodeCached(k cache.Key, data []byte) (any, error) { return decodeAnswer(k.Kind, data) }

func decodeAnswer(kind cache.Kind, data []byte) (Answer, error) {
	var a Answer
	var err error
	switch kind {
	case cache.Permissions:
		err = json.Unmarshal(data, &a.Permissions)
		a.Permissions = knownPermissions(a.Permissions)
	case cache.AccessiblePrograms, cache.AccessibleProjects:
		var set IDSet
		err = json.Unmarshal(data, &set)
		a.All, a.IDs = set.All, set.IDs
		if a.IDs == nil && !a.All {
			a.IDs = []int{}
		}
	case cache.UserStatus:
		err = json.Unmarshal(data, &a.User)
	case cache.CatalogSize:
		err = json.Unmarshal(data, &a.Catalog)
	case cache.ScopeSummary:
		err = json.Unmarshal(data, &a.Summary)
		if a.Summary.DirectScopes == nil {
			a.Summary.DirectScopes = []DirectScope{}
		}
	default:
		err = fmt.Errorf("unknown kind %q", kind)
	}
	return a, err
}

var _ cache.Sized = Answer{}

// SizeBytes estimates the memory a decoded answer holds (the L1 counts it):
// the struct and every slice and string it points to.
func (a Answer) SizeBytes() int64 {
	n := int64(unsafe.Sizeof(a))
	n += int64(cap(a.Permissions)) * int64(unsafe.Sizeof(access.Permission("")))
	for _, p := range a.Permissions {
		n += int64(len(p))
	}
	n += int64(cap(a.IDs)) * int64(unsafe.Sizeof(0))
	n += int64(cap(a.Summary.DirectScopes)) * int64(unsafe.Sizeof(DirectScope{}))
	for _, d := range a.Summary.DirectScopes {
		n += int64(len(d.ScopeType))
		if d.ProgramID != nil {
			n += 8
		}
		if d.ProjectID != nil {
			n += 8
		}
	}
	return n + int64(len(a.User.Email)+len(a.User.Name))
}

func orEmpty(ids []int) []int {
	if ids == nil {
		return []int{}
	}
	return ids
}
