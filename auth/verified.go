package auth

import (
	"sync"
	"time"
)

// defaultVerifiedTokens bounds the verified-token memory: ~1 KB a token,
// a few MB at most.
const defaultVerifiedTokens = 10_000

// verifiedTokens remembers verified tokens until they expire. The key is
// the whole token (header, claims and signature), never the signature
// alone: a remembered signature under altered claims must not pass. An
// entry remembers the key set's version it was verified under and is not
// served after the set changed (a removed key verifies nothing more).
type verifiedTokens struct {
	max     int
	mu      sync.RWMutex
	entries map[string]verifiedToken
}

type verifiedToken struct {
	id      Identity
	version uint64
}

func newVerifiedTokens(max int) *verifiedTokens {
	return &verifiedTokens{max: max, entries: make(map[string]verifiedToken)}
}

func (c *verifiedTokens) get(token string, now time.Time, version uint64) (Identity, bool) {
	c.mu.RLock()
	e, ok := c.entries[token]
	c.mu.RUnlock()
	if !ok || e.version != version || !now.Before(e.id.Until) {
		return Identity{}, false
	}
	return e.id, true
}

func (c *verifiedTokens) put(token string, id Identity, version uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		// Full: forget an arbitrary tenth (map order), expired or not; a
		// forgotten token is verified again on its next use.
		drop := c.max/10 + 1
		for k := range c.entries {
			delete(c.entries, k)
			if drop--; drop == 0 {
				break
			}
		}
	}
	c.entries[token] = verifiedToken{id: id, version: version}
}
