package cache

import "context"

// Get returns the value of every key: from the store when it holds a value of
// the current generation, otherwise from compute (one call for all misses),
// which it then stores. Store failures never fail Get; compute errors do, and
// are never stored.
func (c *Cache) Get(ctx context.Context, keys []Key, compute ComputeFunc) (map[Key][]byte, error) {
	keys = uniqueKeys(keys)
	if len(keys) == 0 {
		return map[Key][]byte{}, nil
	}
	l1 := c.usableLocal()
	if l1 == nil {
		return c.getShared(ctx, keys, compute)
	}
	epoch := l1.epoch.Load() // before anything is read: see local.put
	out := l1.get(keys)
	if len(out) == len(keys) {
		return out, nil
	}
	rest := make([]Key, 0, len(keys)-len(out))
	for _, k := range keys {
		if _, ok := out[k]; !ok {
			rest = append(rest, k)
		}
	}
	got, err := c.getShared(ctx, rest, compute)
	if err != nil {
		return nil, err
	}
	l1.put(epoch, got)
	for k, v := range got {
		out[k] = v
	}
	return out, nil
}

// usableLocal returns the in-process tier if it may answer now: it exists,
// its lease holds, this process delivers its invalidations (not distrusted)
// and the access-change log has nothing overdue (Config.LocalCurrent).
func (c *Cache) usableLocal() *local {
	l1 := c.local
	if l1 == nil || c.distrust.Load() || !l1.usable() {
		return nil
	}
	if c.cfg.LocalCurrent != nil && !c.cfg.LocalCurrent() {
		return nil
	}
	return l1
}

// getShared is Get from the shared store (or the source of truth).
func (c *Cache) getShared(ctx context.Context, keys []Key, compute ComputeFunc) (map[Key][]byte, error) {
	if c.distrust.Load() {
		return c.bypass(ctx, keys, compute)
	}
	var snap Snapshot
	err := c.storeOp(ctx, func(ctx context.Context) (err error) {
		snap, err = c.store.Load(ctx, usersOf(keys), keys)
		return err
	})
	if err != nil {
		c.storeFailed(ctx, "load", err)
		for _, k := range keys {
			c.metrics.kinds[k.Kind].errors.Add(1)
		}
		return c.bypass(ctx, keys, compute)
	}
	if c.cfg.Accept != nil && !c.cfg.Accept(snap.Applied) {
		// The store is behind the access-change log (or went back in time).
		return c.bypass(ctx, keys, compute)
	}
	out := make(map[Key][]byte, len(keys))
	stamps := make(map[Key]string)
	var misses []Key
	for _, k := range keys {
		stamp := snap.Global + "." + snap.Users[k.UserID]
		data, ok := c.check(k, snap.Values[k], stamp)
		if ok {
			out[k] = data
			continue
		}
		misses = append(misses, k)
		stamps[k] = stamp
	}
	if len(misses) == 0 {
		return out, nil
	}
	filled, err := c.fill(ctx, misses, stamps, compute)
	if err != nil {
		return nil, err
	}
	for k, v := range filled {
		out[k] = v
	}
	return out, nil
}

// check opens a stored envelope and counts the lookup.
func (c *Cache) check(k Key, raw []byte, stamp string) ([]byte, bool) {
	counters := c.metrics.kinds[k.Kind]
	if raw == nil {
		counters.misses.Add(1)
		return nil, false
	}
	env, err := DecodeEnvelope(raw)
	if err != nil || env.Gen != stamp {
		// A foreign, corrupt or older-generation value: treat as absent.
		counters.stale.Add(1)
		counters.misses.Add(1)
		return nil, false
	}
	counters.hits.Add(1)
	return env.Data, true
}
