package cache

import (
	"context"
	"sync"
	"time"
)

// MemoryStore is the in-process tier of the embedded default: one instance, no
// network, the same generation semantics as Redis.
type MemoryStore struct {
	mu      sync.Mutex
	now     func() time.Time
	global  string
	users   map[int]string
	values  map[Key]memoryEntry
	writes  int
	maxSize int
	applied int64
	active  map[int]time.Time // see activity.go
}

type memoryEntry struct {
	value   []byte
	expires time.Time
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty in-process store.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{
		now:     time.Now,
		global:  newToken(),
		users:   make(map[int]string),
		values:  make(map[Key]memoryEntry),
		maxSize: 1 << 20,
	}
}

// Backend names the tier.
func (s *MemoryStore) Backend() string { return "memory" }

// Ping always succeeds: the store is in the process.
func (s *MemoryStore) Ping(context.Context) error { return nil }

// Load returns tokens (creating missing ones) and unexpired values.
func (s *MemoryStore) Load(_ context.Context, users []int, keys []Key) (Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := Snapshot{Global: s.global, Users: make(map[int]string, len(users)), Values: make(map[Key][]byte, len(keys)), Applied: s.applied}
	for _, u := range users {
		tok, ok := s.users[u]
		if !ok {
			tok = newToken()
			s.users[u] = tok
		}
		snap.Users[u] = tok
	}
	now := s.now()
	for _, k := range keys {
		if e, ok := s.values[k]; ok && now.Before(e.expires) {
			snap.Values[k] = e.value
		}
	}
	return snap, nil
}

// Save stores the entries; it sweeps expired ones now and then so the map stays
// bounded by what is live.
func (s *MemoryStore) Save(_ context.Context, entries []Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for _, e := range entries {
		s.values[e.Key] = memoryEntry{value: e.Value, expires: now.Add(e.TTL)}
	}
	s.writes += len(entries)
	if s.writes > 10_000 || len(s.values) > s.maxSize {
		s.sweep(now)
	}
	return nil
}

func (s *MemoryStore) sweep(now time.Time) {
	s.writes = 0
	for k, e := range s.values {
		if !now.Before(e.expires) {
			delete(s.values, k)
		}
	}
	if len(s.values) > s.maxSize {
		// Still too big: drop everything. A cache may forget; it may not lie.
		s.values = make(map[Key]memoryEntry)
	}
}

// BumpUsers replaces each user's token and drops the user's values.
func (s *MemoryStore) BumpUsers(_ context.Context, users []int, position, floor int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range users {
		s.users[u] = newToken()
		for _, kind := range Kinds {
			delete(s.values, Key{Kind: kind, UserID: u})
		}
	}
	if position > 0 && s.applied < floor {
		return ErrStoreBehind
	}
	s.applied = max(s.applied, position)
	return nil
}

// BumpAll replaces the global token.
func (s *MemoryStore) BumpAll(_ context.Context, position int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.applied = max(s.applied, position)
	s.global = newToken()
	return nil
}
