package cache

import (
	"context"
	"fmt"
	"time"
)

// Invalidation is what one access change asks of the cache: invalidate
// these users (or all), and record that the log is applied up to Position
// (0: a change outside the log, such as a test's), provided the store has
// applied it up to Floor (what the deliverer knows was delivered before):
// a store behind that went back in time (ErrStoreBehind).
type Invalidation struct {
	Users    []int
	All      bool
	Position int64
	Floor    int64
}

// bumpChunk is the most users one store pipeline invalidates: a team of
// 10,000 members is 10 round trips, each well within the operation timeout
// (one pipeline of 20,000 commands was not, on a loaded machine).
const bumpChunk = 1000

// Invalidate makes the cached values the change affects invalid, on every
// instance, in one store round trip (one per bumpChunk users). Call it after the change has committed.
// If the store cannot be reached, the error is returned for logging only:
// freshness still holds, because this process bypasses the store until a
// global invalidation succeeds (and the access-change log has the change for
// any instance to deliver).
func (c *Cache) Invalidate(ctx context.Context, inv Invalidation) error {
	users := uniqueInts(inv.Users)
	invalidated := users
	var op func(ctx context.Context) error
	switch {
	case inv.All:
		c.metrics.invalidateAll.Add(1)
		op = func(ctx context.Context) error { return c.store.BumpAll(ctx, inv.Position) }
	case len(users) > 0 || inv.Position > 0:
		c.metrics.invalidations.Add(uint64(len(users)))
		// Many users (a team's members) go in pipelines of
		// bumpChunk users, each within the store's operation timeout; the
		// last one raises the applied position, so the position says
		// applied only once every user is invalidated.
		for len(users) > bumpChunk {
			chunk := users[:bumpChunk]
			users = users[bumpChunk:]
			if err := c.storeOp(ctx, func(ctx context.Context) error { return c.store.BumpUsers(ctx, chunk, 0, 0) }); err != nil {
				c.undeliverable(ctx, err)
				return fmt.Errorf("invalidate (%d users): %w", len(invalidated), err)
			}
		}
		op = func(ctx context.Context) error { return c.store.BumpUsers(ctx, users, inv.Position, inv.Floor) }
	default:
		return nil
	}
	if err := c.storeOp(ctx, op); err != nil {
		c.undeliverable(ctx, err)
		return fmt.Errorf("invalidate (%d users, all %t): %w", len(invalidated), inv.All, err)
	}
	// After the store: a read of this process that starts after the drop
	// finds the store invalidated already.
	c.dropLocal(Invalidation{Users: invalidated, All: inv.All})
	return nil
}

// undeliverable stops trusting the store and starts the recovery loop.
func (c *Cache) undeliverable(ctx context.Context, err error) {
	c.storeFailed(ctx, "invalidate", err)
	c.dropLocal(Invalidation{All: true})
	c.mu.Lock()
	defer c.mu.Unlock()
	c.undelivered++
	c.distrust.Store(true)
	if c.recovering {
		return
	}
	c.recovering = true
	c.recoveryWG.Add(1)
	go c.recover()
}

// recover retries the global invalidation until one succeeds after the last
// undelivered invalidation, then trusts the store again. It talks to the
// store directly, not through the circuit breaker, so trust returns within one
// interval of the store coming back.
func (c *Cache) recover() {
	defer c.recoveryWG.Done()
	ticker := time.NewTicker(c.cfg.RecoveryInterval)
	defer ticker.Stop()
	for {
		select {
		case <-c.closed:
			return
		case <-ticker.C:
		}
		c.mu.Lock()
		seen := c.undelivered
		c.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.OpTimeout)
		err := c.store.BumpAll(ctx, 0)
		cancel()
		if err != nil {
			continue
		}
		c.mu.Lock()
		if c.undelivered == seen {
			c.distrust.Store(false)
			c.recovering = false
			c.mu.Unlock()
			c.cfg.Logger.Info("cache trusted again after a global invalidation")
			return
		}
		c.mu.Unlock()
	}
}
