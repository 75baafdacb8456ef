package cache

import (
	"fmt"
	"strconv"
)

// Kind is one of the cached answers about a user.
type Kind string

// The cached kinds; their string is the key name of docs/design.md, section 4. The
// first four are the authorization answers; UserStatus (the user's email,
// name and whether they are active) lets a warm request authenticate without
// the database.
const (
	Permissions        Kind = "permissions"
	AccessiblePrograms Kind = "accessible_programs"
	AccessibleProjects Kind = "accessible_projects"
	ScopeSummary       Kind = "scope_summary"
	UserStatus         Kind = "user"
	// CatalogSize counts the programs and projects, once for everyone, under
	// the pseudo-user CatalogUser: a GLOBAL user's summary takes its counts
	// from it, so a catalog change invalidates one key, not every GLOBAL
	// holder.
	CatalogSize Kind = "catalog_size"
)

// CatalogUser is the user ID the catalog's own answers are kept under.
const CatalogUser = 0

// Kinds lists every kind once.
var Kinds = []Kind{Permissions, AccessiblePrograms, AccessibleProjects, ScopeSummary, UserStatus, CatalogSize}

// Key names one cached answer: a kind for a user.
type Key struct {
	Kind   Kind
	UserID int
}

func (k Key) String() string { return fmt.Sprintf("%s:{%d}", k.Kind, k.UserID) }

// keyspace renders Redis key names. The user ID sits in braces, a Redis Cluster
// hash tag, so a user's four values and its generation share one slot.
type keyspace struct{ prefix string }

func (ks keyspace) data(k Key) string { return ks.prefix + k.String() }

func (ks keyspace) userGen(userID int) string {
	return ks.prefix + "gen:{" + strconv.Itoa(userID) + "}"
}

func (ks keyspace) globalGen() string { return ks.prefix + "gen:global" }

// active is the sorted set of recently active users (warming).
func (ks keyspace) active() string { return ks.prefix + "active_users" }

// applied holds the access-change log position the store has applied.
func (ks keyspace) applied() string { return ks.prefix + "log:applied" }

func (ks keyspace) allData(userID int) []string {
	out := make([]string, len(Kinds))
	for i, kind := range Kinds {
		out[i] = ks.data(Key{Kind: kind, UserID: userID})
	}
	return out
}
