package cache

import (
	"context"
	"fmt"
	"time"
)

// InvalidateUsers makes every cached value of users invalid, on every instance.
// Call it after the change has committed. If the store cannot be reached, the
// error is returned for logging only: freshness still holds, because this
// process bypasses the store until a global invalidation succeeds.
func (c *Cache) InvalidateUsers(ctx context.Context, users []int) error {
	if len(users) == 0 {
		return nil
	}
	c.metrics.invalidations.Add(uint64(len(users)))
	err := c.storeOp(ctx, func(ctx context.Context) error { return c.store.BumpUsers(ctx, uniqueInts(users)) })
	if err != nil {
		c.undeliverable(ctx, err)
		return fmt.Errorf("invalidate %d users: %w", len(users), err)
	}
	return nil
}

// InvalidateAll makes every cached value invalid with one store command.
func (c *Cache) InvalidateAll(ctx context.Context) error {
	c.metrics.invalidateAll.Add(1)
	err := c.storeOp(ctx, c.store.BumpAll)
	if err != nil {
		c.undeliverable(ctx, err)
		return fmt.Errorf("invalidate all: %w", err)
	}
	return nil
}

// undeliverable stops trusting the store and starts the recovery loop.
func (c *Cache) undeliverable(ctx context.Context, err error) {
	c.storeFailed(ctx, "invalidate", err)
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
		err := c.store.BumpAll(ctx)
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
