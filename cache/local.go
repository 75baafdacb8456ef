package cache

import (
	"bytes"
	"container/list"
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// local is the in-process tier (L1) in front of a shared store. The
// promise (docs/freshness.md): a value may be served from memory only while the instance is
// known to receive every invalidation. Two things make that so:
//
//   - a lease: the tier answers only until a deadline that the fleet
//     membership (freshness/fleet.go) extends each time it has confirmed, in the
//     database, that this instance has dropped every delivered change; a
//     writer waits for that confirmation, or for the lease to run out, before
//     it returns. An instance that stops confirming stops using its memory
//     before any writer stops waiting for it.
//   - an epoch: every drop advances it, and a value is kept only if no drop
//     happened since its read began. A read that saw the store before an
//     invalidation reached it cannot put its old value back after the drop.
//
// Memory is bounded, least recently used first out. What is counted is what
// an entry holds: the raw value's capacity, the decoded form's own estimate
// (Sized) and a fixed overhead per entry for the map slot, the list element
// and the boxes around the value; a test measures the live heap of a filled
// L1 against the count (TestL1_CountsWhatItHolds).
type local struct {
	maxBytes int64

	mu      sync.Mutex
	bytes   int64
	entries map[Key]*list.Element
	lru     *list.List // front: most recently used; values are *localEntry

	// objects are catalog objects (programs, projects) known to exist: a
	// GLOBAL viewer's check needs only that. Forgotten whenever the catalog
	// changes (a drop of CatalogUser) or everything is dropped.
	objects map[int]struct{}

	epoch     atomic.Uint64
	deadline  atomic.Int64 // monotonic nanoseconds since base; 0: no lease
	base      time.Time
	suspended atomic.Bool // a committed change is not yet delivered

	hits, misses, evictions, drops atomic.Uint64
}

type localEntry struct {
	key Key
	Value
}

// Value is a cached value, raw and (when a reader asked, see EachDecoded)
// decoded. Both are shared between readers: never modify them.
type Value struct {
	Raw     []byte
	Decoded any
	// end: when the value stops being true (Unix ms, the database's clock;
	// 0: no end). The L1 serves no value from then on.
	end int64
}

// entryOverhead is the memory of one entry beside its value: the map slot
// (key and pointer, with the map's spare room), the list element, the
// localEntry and the box of the decoded value, as measured on amd64.
const entryOverhead = 256

// Sized is implemented by decoded values that can tell the bytes they hold
// (their own struct included); an L1 counts them with it. A decoded value
// that is not Sized is counted as its raw bytes again.
type Sized interface{ SizeBytes() int64 }

func newLocal(maxBytes int64) *local {
	return &local{maxBytes: maxBytes, entries: make(map[Key]*list.Element), objects: make(map[int]struct{}),
		lru: list.New(), base: time.Now()}
}

// since is the monotonic clock the lease is measured on.
func (l *local) since(t time.Time) int64 { return int64(t.Sub(l.base)) }

// usable reports whether the L1 may answer now: its lease holds and nothing
// suspends it.
func (l *local) usable() bool { return !l.suspended.Load() && l.leased() }

func (l *local) leased() bool {
	d := l.deadline.Load()
	return d != 0 && l.since(time.Now()) < d
}

// extend moves the lease's deadline to until (never back: a renewal that
// finished late must not shorten a newer one).
func (l *local) extend(until time.Time) {
	to := l.since(until)
	for cur := l.deadline.Load(); to > cur && !l.deadline.CompareAndSwap(cur, to); cur = l.deadline.Load() {
	}
}

// revoke ends the lease now and forgets everything: the instance can no
// longer tell whether it missed an invalidation.
func (l *local) revoke() {
	l.deadline.Store(0)
	l.dropAll()
}

// get returns the values of keys held in memory, forgetting those that
// have ended by now (Unix ms on the database's clock).
func (l *local) get(keys []Key, now int64) map[Key]Value {
	out := make(map[Key]Value, len(keys))
	l.mu.Lock()
	for _, k := range keys {
		if el, ok := l.entries[k]; ok {
			v := el.Value.(*localEntry).Value
			if v.end != 0 && now >= v.end {
				l.removeLocked(el)
				continue
			}
			l.lru.MoveToFront(el)
			out[k] = v
		}
	}
	l.mu.Unlock()
	l.hits.Add(uint64(len(out)))
	l.misses.Add(uint64(len(keys) - len(out)))
	return out
}

// put keeps values read in epoch, unless something was dropped since.
func (l *local) put(epoch uint64, values map[Key]Value) {
	l.mu.Lock()
	defer l.mu.Unlock()
	// Checked under the lock that drops take too: a drop either happened
	// before this check (and the values are discarded) or waits for this put
	// to finish (and removes them).
	if l.epoch.Load() != epoch {
		return
	}
	for k, v := range values {
		v.Raw = bytes.Clone(v.Raw) // a right-sized copy, pinning no larger buffer
		size := valueSize(v)
		if size > l.maxBytes {
			continue
		}
		if el, ok := l.entries[k]; ok {
			l.bytes -= valueSize(el.Value.(*localEntry).Value)
			el.Value.(*localEntry).Value = v
			l.lru.MoveToFront(el)
		} else {
			l.entries[k] = l.lru.PushFront(&localEntry{key: k, Value: v})
		}
		l.bytes += size
		for l.bytes > l.maxBytes {
			l.removeLocked(l.lru.Back())
			l.evictions.Add(1)
		}
	}
}

func (l *local) removeLocked(el *list.Element) {
	e := el.Value.(*localEntry)
	l.lru.Remove(el)
	delete(l.entries, e.key)
	l.bytes -= valueSize(e.Value)
}

func valueSize(v Value) int64 {
	size := int64(cap(v.Raw)) + entryOverhead
	switch d := v.Decoded.(type) {
	case nil:
	case Sized:
		size += d.SizeBytes()
	default:
		size += int64(cap(v.Raw))
	}
	return size
}

// dropUsers forgets every value of users.
func (l *local) dropUsers(users []int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.epoch.Add(1)
	l.drops.Add(1)
	for _, u := range users {
		if u == CatalogUser {
			clear(l.objects)
		}
		for _, kind := range Kinds {
			if el, ok := l.entries[Key{Kind: kind, UserID: u}]; ok {
				l.removeLocked(el)
			}
		}
	}
}

// dropAll forgets everything.
func (l *local) dropAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.epoch.Add(1)
	l.drops.Add(1)
	clear(l.entries)
	clear(l.objects)
	l.lru.Init()
	l.bytes = 0
}

// objectKnown reports whether id is known to exist.
func (l *local) objectKnown(id int) bool {
	l.mu.Lock()
	_, ok := l.objects[id]
	l.mu.Unlock()
	if ok {
		l.hits.Add(1)
	} else {
		l.misses.Add(1)
	}
	return ok
}

// putObject remembers that id exists, as read in epoch (see put).
func (l *local) putObject(epoch uint64, id int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.epoch.Load() != epoch {
		return
	}
	if int64(len(l.objects)) >= l.maxBytes/entryOverhead {
		clear(l.objects) // bounded like the values: start again
	}
	l.objects[id] = struct{}{}
}

// LocalStats are the in-process tier's counters.
type LocalStats struct {
	Enabled                        bool
	Leased                         bool
	Entries                        int
	Bytes, MaxBytes                int64
	Hits, Misses, Evictions, Drops uint64
}

func (l *local) stats() LocalStats {
	if l == nil {
		return LocalStats{}
	}
	l.mu.Lock()
	n, b := len(l.entries), l.bytes
	l.mu.Unlock()
	return LocalStats{
		Enabled: true, Leased: l.leased(), Entries: n, Bytes: b, MaxBytes: l.maxBytes,
		Hits: l.hits.Load(), Misses: l.misses.Load(), Evictions: l.evictions.Load(), Drops: l.drops.Load(),
	}
}

// LocalTier controls the L1: what the fleet membership does to it (drop
// what changed, extend or revoke the lease, suspend it while a change is
// undelivered). New hands it out once, to whoever wires the fleet, so
// nothing else can lease the tier or drop values behind the log's back.
type LocalTier struct{ l *local }

// Drop forgets users' values from this process's L1. The fleet calls it for
// the changes the access-change log tells it about.
func (t *LocalTier) Drop(users []int) {
	if len(users) > 0 {
		t.l.dropUsers(users)
	}
}

// DropAll forgets every value (a change that affects everyone).
func (t *LocalTier) DropAll() { t.l.dropAll() }

// ExtendLease lets the L1 answer until until (a time carrying its monotonic
// reading). The fleet calls it after confirming this instance has dropped
// every delivered change.
func (t *LocalTier) ExtendLease(until time.Time) { t.l.extend(until) }

// RevokeLease stops the L1 answering and empties it, until the next
// ExtendLease.
func (t *LocalTier) RevokeLease() { t.l.revoke() }

// Suspend stops the L1's answers without forgetting them: the fleet
// suspends it while a committed change is not yet delivered.
func (t *LocalTier) Suspend() { t.l.suspended.Store(true) }

// Resume lets a suspended L1 answer again, once the fleet has dropped what
// the delivery names.
func (t *LocalTier) Resume() { t.l.suspended.Store(false) }

// dropLocal forgets users' values, or everyone's, from the L1 if there is
// one (the cache's own invalidations).
func (c *Cache) dropLocal(inv Invalidation) {
	switch {
	case c.local == nil:
	case inv.All:
		c.local.dropAll()
	default:
		c.local.dropUsers(inv.Users)
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

// LocalStats returns the L1's counters (zero, and Enabled false, without
// one).
func (c *Cache) LocalStats() LocalStats { return c.local.stats() }
