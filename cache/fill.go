package cache

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"time"
)

// fill computes the misses this process is not already computing, stores them,
// and waits for the ones it is.
func (c *Cache) fill(ctx context.Context, misses []Key, stamps map[Key]string, compute ComputeFunc) (map[Key]Computed, error) {
	lead, follow := c.flights.join(misses, stamps)
	out := make(map[Key]Computed, len(misses))
	if len(lead) > 0 {
		values, err := c.computeAndSave(ctx, lead, stamps, compute)
		if err != nil {
			return nil, err
		}
		for k, v := range values {
			out[k] = v
		}
	}
	var retry []Key
	for k, f := range follow {
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if f.err != nil || c.ended(endMs(f.value.End)) {
			// The leader failed, perhaps only because its own request was
			// cancelled: compute this key ourselves rather than share the
			// error. Or its value, computed before we asked, has ended since:
			// this read started after the end and must not see it.
			retry = append(retry, k)
			continue
		}
		out[k] = f.value
	}
	if len(retry) > 0 {
		values, err := computeAll(ctx, retry, compute)
		if err != nil {
			return nil, err
		}
		for k, v := range values {
			out[k] = v
		}
	}
	return out, nil
}

// computeAndSave runs compute for the keys this call leads, stores the result
// stamped with the generation read before computing, and releases followers.
func (c *Cache) computeAndSave(ctx context.Context, lead []Key, stamps map[Key]string, compute ComputeFunc) (values map[Key]Computed, err error) {
	start := time.Now()
	defer func() {
		if values == nil && err == nil {
			// compute panicked: followers must not take "nothing" for an answer.
			err = errors.New("cache: computation did not complete")
		}
		c.flights.finish(lead, stamps, values, err)
	}()
	values, err = computeAll(ctx, lead, compute)
	if err != nil {
		return nil, err
	}
	if c.cfg.BeforeFill != nil {
		c.cfg.BeforeFill(ctx, lead)
	}
	c.save(ctx, lead, values, stamps, time.Since(start))
	c.metrics.fillSeconds.Observe(time.Since(start).Seconds())
	return values, nil
}

func (c *Cache) save(ctx context.Context, keys []Key, values map[Key]Computed, stamps map[Key]string, cost time.Duration) {
	if c.distrust.Load() {
		return
	}
	entries := make([]Entry, 0, len(keys))
	now := time.Now()
	for _, k := range keys {
		v := values[k]
		ttl := c.ttl(k.Kind)
		end := endMs(v.End)
		if end != 0 {
			// Redis keeps the value no longer than it holds (measured on
			// the database's clock, which databaseNow never trails).
			left := time.Duration(end-c.databaseNow().UnixMilli()) * time.Millisecond
			if left <= 0 {
				continue // ended already: nothing to keep
			}
			ttl = min(ttl, left)
		}
		raw, err := json.Marshal(Envelope{Gen: stamps[k], Data: v.Data, Exp: now.Add(ttl).UnixMilli(), Cost: cost.Microseconds(), End: end})
		if err != nil {
			c.cfg.Logger.Error("cache: encode value", "key", k.String(), "err", err)
			continue
		}
		entries = append(entries, Entry{Key: k, Value: raw, TTL: ttl})
	}
	if len(entries) == 0 {
		return
	}
	err := c.storeOp(ctx, func(ctx context.Context) error { return c.store.Save(ctx, entries) })
	if err != nil {
		c.storeFailed(ctx, "save", err)
	}
}

// ttl is the configured TTL shortened by up to Jitter, so expiries of values
// filled together spread out and no TTL exceeds the configured one.
func (c *Cache) ttl(kind Kind) time.Duration {
	base := c.cfg.TTL[kind]
	return base - time.Duration(rand.Float64()*c.cfg.Jitter*float64(base))
}

// bypass computes without the store: used while the store is down or not
// trusted. No singleflight here: without a generation stamp there is no way
// to tell a computation that started before a commit from one after it.
func (c *Cache) bypass(ctx context.Context, keys []Key, compute ComputeFunc) (map[Key]Computed, error) {
	for _, k := range keys {
		c.metrics.kinds[k.Kind].bypassed.Add(1)
	}
	return computeAll(ctx, keys, compute)
}

// endMs is a value's end in Unix ms (0: none), rounded down: a value never
// outlives its end by the rounding.
func endMs(end time.Time) int64 {
	if end.IsZero() {
		return 0
	}
	return end.UnixMilli()
}
