package cache

import "sync"

// flights is a batch singleflight: concurrent misses for the same key and the
// same generation stamp compute once per process. The stamp is part of the
// identity on purpose: a reader that saw a newer generation (because a mutation
// committed and invalidated in between) must never join a computation that
// started before that mutation.
type flights struct {
	mu    sync.Mutex
	calls map[flightKey]*flight
}

type flightKey struct {
	key   Key
	stamp string
}

type flight struct {
	done  chan struct{}
	value Computed
	err   error
}

// join registers keys: the ones nobody is computing are returned in lead and
// must be finished by the caller; the others are returned with their flight.
func (f *flights) join(keys []Key, stamps map[Key]string) (lead []Key, follow map[Key]*flight) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls == nil {
		f.calls = make(map[flightKey]*flight)
	}
	follow = make(map[Key]*flight)
	for _, k := range keys {
		fk := flightKey{key: k, stamp: stamps[k]}
		if call, ok := f.calls[fk]; ok {
			follow[k] = call
			continue
		}
		f.calls[fk] = &flight{done: make(chan struct{})}
		lead = append(lead, k)
	}
	return lead, follow
}

// finish publishes the leader's result to its followers and forgets the calls.
// Errors are delivered, never kept.
func (f *flights) finish(keys []Key, stamps map[Key]string, values map[Key]Computed, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range keys {
		fk := flightKey{key: k, stamp: stamps[k]}
		call := f.calls[fk]
		delete(f.calls, fk)
		call.value, call.err = values[k], err
		close(call.done)
	}
}
