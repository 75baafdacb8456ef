// Package authz is the authorization domain: it resolves users' permissions
// and scope from the database in batches, serves them through the cache, and
// performs every mutation (catalog, users, roles, scopes) with permission and
// scope checks and cache invalidation after commit.
package authz

import (
	"sync/atomic"

	"authz-gateway/answers"
	"authz-gateway/cache"
	"authz-gateway/ent"
	"authz-gateway/freshness"
)

// Service resolves and manages authorization. It is safe for concurrent use.
type Service struct {
	db      *ent.Client
	cache   *cache.Cache
	answers *answers.Source
	log     *freshness.Log // every write commits through it
	active  Activity
	types   atomic.Value // []string: ent's type table, see objectKind
}

// Config assembles a Service.
type Config struct {
	DB    *ent.Client
	Cache *cache.Cache
	// Answers computes and reads the users' answers (through Cache).
	Answers *answers.Source
	// Log is the instance's access-change log: every write commits
	// through it (its Holders rule is this package's Holders).
	Log *freshness.Log
	// Activity learns of every viewer resolved (warming's record); nil:
	// nobody.
	Activity Activity
}

// Activity learns which users this instance authenticates.
type Activity interface{ NoteActive(userID int) }

type noActivity struct{}

func (noActivity) NoteActive(int) {}

// NewService returns the Service of cfg.
func NewService(cfg Config) *Service {
	if cfg.Activity == nil {
		cfg.Activity = noActivity{}
	}
	return &Service{db: cfg.DB, cache: cfg.Cache, answers: cfg.Answers, log: cfg.Log, active: cfg.Activity}
}
