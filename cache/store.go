package cache

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"time"
)

// Store is one storage tier (Redis or in-process). Every method is one round
// trip however many keys it touches. A Store knows nothing of freshness rules:
// it stores generation tokens and raw bytes; Cache decides what is valid.
type Store interface {
	// Load returns the global generation token, the generation token of each
	// user (creating, atomically, any that is missing) and the raw value of
	// every key that exists.
	Load(ctx context.Context, users []int, keys []Key) (Snapshot, error)
	// Save writes raw values with their TTLs.
	Save(ctx context.Context, entries []Entry) error
	// BumpUsers gives each user a fresh generation token (and drops the user's
	// values, which the new token already makes invalid), and raises the
	// applied log position to position (never lowers it; 0 leaves it) if
	// the store has applied floor already: a store behind floor went back
	// in time, and raising its position over the gap would hide that. Then
	// the position is left and ErrStoreBehind returned.
	BumpUsers(ctx context.Context, users []int, position, floor int64) error
	// BumpAll gives the global generation a fresh token: O(1) whatever the
	// number of users; it raises the applied position like BumpUsers.
	BumpAll(ctx context.Context, position int64) error
	// Ping checks that the store answers.
	Ping(ctx context.Context) error
	// Backend names the tier: "redis" or "memory".
	Backend() string
}

// ErrStoreBehind says a store has not applied the log as far as a
// delivery knows it was delivered: it went back in time (a restart from a
// snapshot, a failover) and must be repaired, not moved on.
var ErrStoreBehind = errors.New("the cache store is behind the access-change log")

// Snapshot is what one Load saw.
type Snapshot struct {
	Global string
	Users  map[int]string
	Values map[Key][]byte
	// Applied is how far in the access-change log the store has applied
	// invalidations (0: nothing recorded). It lives in the store, so it goes
	// back in time exactly when the store does.
	Applied int64
}

// Entry is one value to Save.
type Entry struct {
	Key   Key
	Value []byte
	TTL   time.Duration
}

// newToken returns a generation token. Tokens are random, not counters, so a
// generation key that expired or was evicted can never come back with a value
// that an old entry was stamped with.
func newToken() string {
	return strconv.FormatUint(rand.Uint64(), 36)
}
