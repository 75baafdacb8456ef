// Package freshness keeps every cached answer fresh on every instance. Its
// files are its actors, around the access-change log (this file: the
// vocabulary, Change, and the channel they talk on):
//
//   - writer.go: a change and its entry commit together (Commit, the one
//     entry point of every access change), then the writer delivers it;
//   - delivery.go: the one delivery, the writer's and the sweep's alike;
//   - watcher.go: every instance's watcher: deliveries announced by
//     others, the sweep of overdue entries, the judgement of a store that
//     went back in time (Positions) and its repair;
//   - fleet.go: the in-process tiers (L1s), their leases and confirmations;
//   - live.go: the fan-out of delivered changes to subscribers;
//   - expiry.go: the "expire" entries of time-bound grants.
//
// The protocol and the invariants each part keeps are in docs/freshness.md.
// It owns the log's SQL, lib/pq's LISTEN and the fleet's statements; who a
// change affects is the domain's rule (Config.Holders).
package freshness

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync/atomic"

	"authz-gateway/cache"
	"authz-gateway/ent"

	"github.com/lib/pq"
	"github.com/prometheus/client_golang/prometheus"
)

// Config assembles a Log.
type Config struct {
	DB    *ent.Client
	Cache *cache.Cache
	// Positions judge the store (the cache's Config.Accept reads them).
	Positions *Positions
	// Postgres: row locks, LISTEN/NOTIFY and the database's clock exist
	// (the embedded SQLite default has none of them, and no fleet).
	Postgres bool
	// OnInvalidateAll runs after this instance delivered a change that
	// invalidates everything (warming starts over).
	OnInvalidateAll func()
	// Holders returns the users whose scopes reach a change's targets (its
	// Programs, Projects and GlobalHolders) and the members of its Teams:
	// the domain's rule of who is affected beyond the users a change
	// names, asked at delivery.
	Holders func(ctx context.Context, db *ent.Client, c Change) ([]int, error)
}

// Log is this instance's side of the freshness protocol.
type Log struct {
	cfg       Config
	db        *ent.Client
	cache     *cache.Cache
	positions *Positions
	postgres  bool
	fleet     atomic.Pointer[fleet] // set by JoinFleet (with an L1)
	watcher   atomic.Pointer[watcher]
	listener  atomic.Pointer[pq.Listener] // PostgreSQL: set by WatchLog
	live      *liveChanges                // accessChanged's watchers
	// expiryWake tells the expiry watcher of a grant with an end.
	expiryWake chan struct{}
	// affectedUsers observes how many users each delivery marked here affected
	// (a team's grant: its members).
	affectedUsers prometheus.Histogram
}

// New returns the log of cfg. Start it with WatchLog (and JoinFleet, with an
// L1).
func New(cfg Config) *Log {
	if cfg.Holders == nil {
		// Without the domain's rule nobody's holders are known: every
		// change with targets then affects everyone (never fewer).
		cfg.Holders = func(context.Context, *ent.Client, Change) ([]int, error) {
			return nil, errors.New("no rule for the holders of a change's targets")
		}
	}
	return &Log{cfg: cfg, db: cfg.DB, cache: cfg.Cache, positions: cfg.Positions, postgres: cfg.Postgres, live: newLiveChanges(), expiryWake: make(chan struct{}, 1),
		affectedUsers: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "authz_access_change_affected_users",
			Help:    "Users an access change affected, per change delivered by this instance (a team's grant affects its members; invalidate-alls are not counted).",
			Buckets: prometheus.ExponentialBuckets(1, 10, 6),
		})}
}

// DeliveryCollectors exports the deliveries' metrics.
func (l *Log) DeliveryCollectors() []prometheus.Collector {
	return []prometheus.Collector{l.affectedUsers}
}

// Change is what one write tells the log: whose cached answers it can
// alter (named users, the holders of scopes on some programs and projects,
// the members of some teams, every holder of a GLOBAL scope, or everyone)
// and what it was about, for the audit trail.
type Change struct {
	Users              []int
	Programs, Projects []int
	// Teams: their members, found at delivery (after the commit, so a
	// member added concurrently is found too), whatever their number.
	Teams         []int
	GlobalHolders bool
	All           bool
	Target        string
	// On is the narrowest object a viewer must reach to read the entry.
	On Scope
}

// Scope names a program or a project (Kind "program", "project"), or ""
// for nothing narrower than GLOBAL.
type Scope struct {
	Kind string
	ID   int
}

// Union returns a followed by the elements of b that are not in a: the
// users of two changes (or answers) together.
func Union(a, b []int) []int {
	seen := make(map[int]bool, len(a)+len(b))
	out := make([]int, 0, len(a)+len(b))
	for _, v := range slices.Concat(a, b) {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// NotifyChannel is the PostgreSQL channel entries are announced on:
// "c:<id>" when committed, "d:<id>" when delivered.
const NotifyChannel = "access_changes"

// announce notifies the other instances (PostgreSQL only; within tx, the
// notification is sent when tx commits).
func (l *Log) announce(ctx context.Context, tx *ent.Tx, what string, id int) error {
	return l.announceText(ctx, tx, what+":"+strconv.Itoa(id))
}

// execer runs a statement: a transaction (its notifications leave when it
// commits) or the client (they leave at once).
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// announceText sends payload on the log's channel through db: when it
// commits, for a transaction.
func (l *Log) announceText(ctx context.Context, db execer, payload string) error {
	if !l.postgres {
		return nil
	}
	if _, err := db.ExecContext(ctx, "SELECT pg_notify($1, $2)", NotifyChannel, payload); err != nil {
		return fmt.Errorf("announce access change: %w", err)
	}
	return nil
}

func orEmpty(ids []int) []int {
	if ids == nil {
		return []int{}
	}
	return ids
}
