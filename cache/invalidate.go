package cache

import (
	"context"
	"fmt"
	"time"
)

// Invalidation is what one access change asks of the cache: invalidate
// these users (or all), and record that the log is applied up to Position
// (0: a change outside the log, such as a test's).
type Invalidation struct {
	Users    []int
	All      bool
	Position int64
}

// Invalidate makes the cached values the change affects invalid, on every
// instance, in one store round trip. Call it after the change has committed.
// If the store cannot be reached, the error is returned for logging only:
// freshness still holds, because this process bypasses the store until a
// global invalidation succeeds (and the access-change log has the change for
// any instance to deliver).
func (c *Cache) Invalidate(ctx context.Context, inv Invalidation) error {
	users := uniqueInts(inv.Users)
	var op func(ctx context.Context) error
	switch {
	case inv.All:
		c.metrics.invalidateAll.Add(1)
		op = func(ctx context.Context) error { return c.store.BumpAll(ctx, inv.Position) }
	case len(users) > 0 || inv.Position > 0:
		c.metrics.invalidations.Add(uint64(len(users)))
		op = func(ctx context.Context) error { return c.store.BumpUsers(ctx, users, inv.Position) }
	default:
		return nil
	}
	if err := c.storeOp(ctx, op); err != nil {
		c.undeliverable(ctx, err)
		return fmt.Errorf("invalidate (%d users, all %t): %w", len(users), inv.All, err)
	}
	// After the store: a read of this process that starts after the drop
	// finds the store invalidated already.
	c.DropLocal(users, inv.All)
	return nil
}

// DropLocal forgets users' values (or all) from this process's L1. Other
// instances call it for the changes the access-change log tells them about.
func (c *Cache) DropLocal(users []int, all bool) {
	switch {
	case c.local == nil:
	case all:
		c.local.dropAll()
	case len(users) > 0:
		c.local.dropUsers(users)
	}
}

// ExtendLocalLease lets the L1 answer until until (a time carrying its
// monotonic reading). The fleet membership calls it after confirming this
// instance has dropped every delivered change.
func (c *Cache) ExtendLocalLease(until time.Time) {
	if c.local != nil {
		c.local.extend(until)
	}
}

// RevokeLocalLease stops the L1 answering and empties it, until the next
// ExtendLocalLease.
func (c *Cache) RevokeLocalLease() {
	if c.local != nil {
		c.local.revoke()
	}
}

// SuspendLocal stops (true) or resumes (false) the L1's answers without
// forgetting them: the fleet suspends it while a committed change is not yet
// delivered, and resumes once it has dropped what the delivery names.
func (c *Cache) SuspendLocal(suspend bool) {
	if c.local != nil {
		c.local.suspended.Store(suspend)
	}
}

// ObjectExists answers whether the catalog object id (a program or project)
// exists: from the L1 when it knows, else from exists (the database), whose
// yes it keeps until the catalog next changes. Without a usable L1 it asks
// exists every time.
func (c *Cache) ObjectExists(ctx context.Context, id int, exists func(context.Context) (bool, error)) (bool, error) {
	l1 := c.usableLocal()
	if l1 == nil {
		return exists(ctx)
	}
	epoch := l1.epoch.Load() // before the database is read: see local.put
	if l1.objectKnown(id) {
		return true, nil
	}
	ok, err := exists(ctx)
	if ok && err == nil {
		l1.putObject(epoch, id)
	}
	return ok, err
}

// HasLocal reports whether the cache keeps an L1.
func (c *Cache) HasLocal() bool { return c.local != nil }

// LocalStats returns the L1's counters (zero without one).
func (c *Cache) LocalStats() LocalStats { return c.local.stats() }

// InvalidateUsers makes every cached value of users invalid (see Invalidate).
func (c *Cache) InvalidateUsers(ctx context.Context, users []int) error {
	return c.Invalidate(ctx, Invalidation{Users: users})
}

// InvalidateAll makes every cached value invalid with one store command.
func (c *Cache) InvalidateAll(ctx context.Context) error {
	return c.Invalidate(ctx, Invalidation{All: true})
}

// undeliverable stops trusting the store and starts the recovery loop.
func (c *Cache) undeliverable(ctx context.Context, err error) {
	c.storeFailed(ctx, "invalidate", err)
	c.DropLocal(nil, true)
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
