package cache

import (
	"context"
	"fmt"
	"time"
)

// Get returns the value of every key: from the L1 when it may answer, else
// from the store when it holds a value of the current generation, otherwise
// from compute (one call for all misses), which it then stores. Store
// failures never fail Get; compute errors do, and are never stored.
func (c *Cache) Get(ctx context.Context, keys []Key, compute ComputeFunc) (map[Key][]byte, error) {
	values, err := c.get(ctx, keys, compute, nil)
	if err != nil {
		return nil, err
	}
	out := make(map[Key][]byte, len(values))
	for k, v := range values {
		out[k] = v.Raw
	}
	return out, nil
}

// DecodeFunc turns a value into what its reader works with.
type DecodeFunc func(k Key, raw []byte) (any, error)

// EachDecoded is Get with every value decoded by decode, handed to each
// (a reader builds the map it needs). The L1 keeps what it decoded, so a
// value held in memory is decoded once, not on every read. Decoded values
// are shared between readers: never modify them. A cache has one reader
// that decodes (answers.Source): decode must be the same function on
// every call.
func (c *Cache) EachDecoded(ctx context.Context, keys []Key, compute ComputeFunc, decode DecodeFunc, each func(Key, any)) error {
	values, err := c.get(ctx, keys, compute, decode)
	if err != nil {
		return err
	}
	for k, v := range values {
		each(k, v.Decoded)
	}
	return nil
}

// get serves Get and (with decode) EachDecoded.
func (c *Cache) get(ctx context.Context, keys []Key, compute ComputeFunc, decode DecodeFunc) (map[Key]Value, error) {
	keys = uniqueKeys(keys)
	out := make(map[Key]Value, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	l1 := c.usableLocal()
	var epoch uint64
	var held map[Key]Value
	if l1 != nil {
		epoch = l1.epoch.Load() // before anything is read: see local.put
		held = l1.get(keys, c.databaseNow().UnixMilli())
		if len(held) == len(keys) && (decode == nil || allDecoded(held)) {
			return held, nil // the warm path: all in memory, decoded (held is ours)
		}
	}
	var rest []Key
	if len(held) < len(keys) {
		rest = make([]Key, 0, len(keys)-len(held))
	}
	// One user's answers come from one place: a user the L1 holds only
	// some of is read from the store whole (see wholeUsers).
	partial := usersMissing(keys, func(k Key) bool { _, ok := held[k]; return ok })
	for _, k := range keys {
		if v, ok := held[k]; ok && !partial[k.UserID] {
			out[k] = v
		} else {
			rest = append(rest, k)
		}
	}
	// What the L1 should keep: what it did not hold, and what it held
	// undecoded and was decoded now (nil until there is some).
	var keep map[Key]Value
	if len(rest) > 0 {
		got, err := c.getShared(ctx, rest, compute)
		if err != nil {
			return nil, err
		}
		keep = make(map[Key]Value, len(got))
		for k, v := range got {
			out[k] = Value{Raw: v.Data, end: endMs(v.End)}
			keep[k] = out[k]
		}
	}
	if decode != nil {
		for k, v := range out {
			if v.Decoded != nil {
				continue
			}
			d, err := decode(k, v.Raw)
			if err != nil {
				return nil, fmt.Errorf("decode %s: %w", k, err)
			}
			v.Decoded = d
			if keep == nil {
				keep = make(map[Key]Value)
			}
			out[k], keep[k] = v, v
		}
	}
	if l1 != nil && len(keep) > 0 {
		l1.put(epoch, keep)
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
func (c *Cache) getShared(ctx context.Context, keys []Key, compute ComputeFunc) (map[Key]Computed, error) {
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
	out := make(map[Key]Computed, len(keys))
	stamps := make(map[Key]string)
	checked := make(map[Key]Computed, len(keys))
	var early []Key
	for _, k := range keys {
		stamp := snap.Global + "." + snap.Users[k.UserID]
		data, ok, refresh := c.check(k, snap.Values[k], stamp)
		stamps[k] = stamp
		if ok {
			checked[k] = data
			if refresh {
				early = append(early, k)
			}
		}
	}
	// A user missing any answer is computed whole: answers of one user
	// that came from two computations could each be true of a different
	// state (a torn answer).
	partial := usersMissing(keys, func(k Key) bool { _, ok := checked[k]; return ok })
	var misses []Key
	for _, k := range keys {
		if data, ok := checked[k]; ok && !partial[k.UserID] {
			out[k] = data
		} else {
			misses = append(misses, k)
		}
	}
	if len(early) > 0 {
		c.refreshAhead(ctx, early, stamps, compute)
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

// allDecoded reports whether every value is held decoded already.
func allDecoded(values map[Key]Value) bool {
	for _, v := range values {
		if v.Decoded == nil {
			return false
		}
	}
	return true
}

// usersMissing are the users of keys for whom has is false for some key:
// their answers are read or computed whole, so that the answers one
// request reads of a user come from one computation (one state of the
// database).
func usersMissing(keys []Key, has func(Key) bool) map[int]bool {
	var out map[int]bool
	for _, k := range keys {
		if !has(k) {
			if out == nil {
				out = make(map[int]bool)
			}
			out[k.UserID] = true
		}
	}
	return out
}

// check opens a stored envelope and counts the lookup; refresh says the
// value, valid, should be recomputed ahead of its expiry (refresh.go). A
// value whose end has come is absent, whatever Redis still holds.
func (c *Cache) check(k Key, raw []byte, stamp string) (data Computed, ok, refresh bool) {
	counters := c.metrics.kinds[k.Kind]
	if raw == nil {
		counters.misses.Add(1)
		return Computed{}, false, false
	}
	env, err := DecodeEnvelope(raw)
	if err != nil || env.Gen != stamp || c.ended(env.End) {
		// A foreign, corrupt, older-generation or ended value: treat as
		// absent.
		counters.stale.Add(1)
		counters.misses.Add(1)
		return Computed{}, false, false
	}
	counters.hits.Add(1)
	data = Computed{Data: env.Data}
	if env.End != 0 {
		data.End = time.UnixMilli(env.End)
	}
	return data, true, c.expiresSoon(k, env)
}
