package freshness

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"authz-gateway/cache"
	"authz-gateway/quietlog"
	"authz-gateway/reqctx"

	"github.com/lib/pq"

	"github.com/prometheus/client_golang/prometheus"
)

// The fleet: the instances that keep an in-process tier (L1), and the
// protocol that keeps docs/design.md, section 4 promise with it (Chubby's cache
// invalidation, with PostgreSQL as the master):
//
//   - Each instance has a row in cache_instances with a lease and a
//     confirmation time, both on the database's clock. It confirms by
//     reading, in a statement started at time S, the changes delivered
//     since its last confirmation, dropping their users from its L1, then
//     setting synced_at = S and extending its lease. Every change delivered
//     before S is visible to that read, so synced_at = S means "every change
//     delivered before S is out of my memory". When there is nothing to
//     drop (an idle renewal), the read and the extension are one statement.
//   - A writer, after delivering its change (Redis invalidated, the entry
//     marked delivered), reads the database's time W and, in the same
//     statement, asks for confirmations ("w:<its id>:<W>" on the log's
//     channel, sent after W). It then waits until every other instance whose
//     lease held at W has synced_at >= W, or its lease has run out.
//   - Confirmations are not announced to everyone: an instance that
//     confirmed because writers asked checks, as it records its
//     confirmation, whether any other instance still owes each of them one,
//     and if none does tells that writer alone ("s:<W>" on the writer's own
//     channel). Of the last two to confirm, one whose check starts after the
//     other's commit sees both,
//     so the writer hears once, and each instance handles O(1) messages per
//     write whatever the fleet's size. The check rides on the statement that
//     records the confirmation, so when the last confirmations overlap none
//     sees the other's; a writer that hears nothing (that, an instance gone
//     silent, a notification lost) reads the table itself, soon at first,
//     then less often (ackPollFirst, ackPollMax), and at the first lease's end.
//   - A delivery's notification ("d:<id>:<users>", or ":*" for everyone)
//     names whom it affected when that fits in a notification: each
//     instance drops them from its L1 on receipt, so the confirmation the
//     writer asks for next has nothing to drop and is one statement.
//   - An instance uses its L1 only until its lease's deadline measured on its
//     own monotonic clock from *before* the renewal was sent: that is earlier
//     than the lease_until the database wrote (now() + lease, read later), so
//     a silent instance stops serving from memory before any writer stops
//     waiting for it. Its lease needs the database: an instance that cannot
//     reach it, or stalls, falls back to Redis on its own.
//   - An idle instance costs the database one statement per renewal
//     (Lease/2, so once a second by default), and that statement also tells
//     the log watcher the log's delivered head and whether an entry is
//     overdue, in place of the watcher's own poll.
//
// Changes are found by delivered_at, not by ID: IDs are allocated when an
// entry is inserted, and a lower ID can commit (and be delivered) after a
// higher one. delivered_at is the marking transaction's now(), earlier than
// its commit by at most that short transaction's duration, so each read looks
// back fleetSlack before its previous start and skips what it already
// dropped.

const fleetSlack = 30 * time.Second

// FleetConfig tunes the fleet membership.
type FleetConfig struct {
	// Lease is how long a confirmation lets the L1 answer (default 2 s). It
	// bounds how long a write waits for an instance that went silent.
	Lease time.Duration
	// Renew is how often the instance confirms without being asked (default
	// Lease/2: one statement a second for the default lease, while a
	// renewal may take most of a second before the L1 pauses). It bounds
	// how long an instance serves from memory a change whose writer died
	// before asking for confirmations.
	Renew time.Duration
	// Pause, if set, runs before every confirmation; tests use it to make
	// an instance go silent.
	Pause func(ctx context.Context)
}

func (c FleetConfig) withDefaults() FleetConfig {
	if c.Lease <= 0 {
		c.Lease = 2 * time.Second
	}
	if c.Renew <= 0 {
		c.Renew = c.Lease / 2
	}
	return c
}

// fleet is this instance's membership.
type fleet struct {
	log  *Log
	tier *cache.LocalTier // the L1's controls: only the fleet holds them
	cfg  FleetConfig
	name string

	mu        sync.Mutex
	id        int               // this instance's row; 0 before registration
	processed map[int]time.Time // changes dropped, by delivery time
	lastSync  time.Time         // S of the last confirmation (database clock)
	askers    map[int]time.Time // writers waiting for a confirmation: the latest W each asked about
	ackedTo   time.Time         // the latest W of ours the fleet has confirmed
	acked     chan struct{}     // closed (and replaced) when ackedTo moves
	poke      chan struct{}     // a writer asked for a confirmation
	now       chan chan error   // ConfirmL1's requests

	waitSeconds prometheus.Histogram
	fenced      prometheus.Counter
	syncs       prometheus.Counter
}

// JoinFleet registers this instance's L1 (the service's cache must have one;
// PostgreSQL only) and keeps its lease while the returned stop is not called.
// Until the first confirmation the L1 does not answer.
func (l *Log) JoinFleet(cfg FleetConfig, tier *cache.LocalTier) (stop func(), err error) {
	if tier == nil || !l.postgres {
		return nil, errors.New("fleet: needs an L1 and PostgreSQL")
	}
	host, _ := os.Hostname()
	f := &fleet{
		log:       l,
		tier:      tier,
		cfg:       cfg.withDefaults(),
		name:      host + ":" + strconv.Itoa(os.Getpid()),
		processed: make(map[int]time.Time),
		askers:    make(map[int]time.Time),
		acked:     make(chan struct{}),
		poke:      make(chan struct{}, 1),
		now:       make(chan chan error),
		waitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "authz_write_ack_wait_seconds",
			Help:    "Time a write waited, after delivering its change, for the other instances' L1s to confirm dropping it.",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2, 16),
		}),
		fenced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authz_write_ack_fenced_total",
			Help: "Instances a write stopped waiting for because their lease ran out instead of confirming.",
		}),
		syncs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authz_cache_local_confirmations_total",
			Help: "Confirmations of this instance's L1 (changes dropped, lease extended).",
		}),
	}
	ctx, cancel := context.WithCancel(reqctx.NewContextWithSystem(context.Background()))
	if err := f.register(ctx); err != nil {
		cancel()
		return nil, err
	}
	l.fleet.Store(f)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		f.run(ctx)
	}()
	return func() {
		l.fleet.CompareAndSwap(f, nil)
		cancel()
		wg.Wait()
		tier.RevokeLease()
		f.leave()
	}, nil
}

// FleetCollectors exports the fleet's metrics (none without a fleet).
func (l *Log) FleetCollectors() []prometheus.Collector {
	f := l.fleet.Load()
	if f == nil {
		return nil
	}
	return []prometheus.Collector{f.waitSeconds, f.fenced, f.syncs}
}

// register inserts this instance's row, with no lease yet. Its L1 is empty
// (it has never had a lease), so it has dropped every change delivered so far.
func (f *fleet) register(ctx context.Context) error {
	f.tier.RevokeLease()
	var (
		id  int
		now time.Time
	)
	err := scanRow(ctx, f.log.db,
		`/* fleet */ INSERT INTO cache_instances (name, started_at, lease_until, synced_at) VALUES ($1, now(), now(), now()) RETURNING id, now()`,
		[]any{f.name}, &id, &now)
	if err != nil {
		return fmt.Errorf("fleet: register: %w", err)
	}
	// Rows of instances long gone: nobody waits for them (their lease ran
	// out), they only take space.
	_, _ = f.log.db.ExecContext(ctx, `/* fleet */ DELETE FROM cache_instances WHERE lease_until < now() - interval '1 hour'`)
	f.mu.Lock()
	f.id, f.lastSync = id, now
	clear(f.processed)
	f.mu.Unlock()
	// Writers hear on their own channel that the fleet confirmed.
	f.log.listen(ackChannel(id))
	return nil
}

// instance is this instance's row.
func (f *fleet) instance() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.id
}

// ackChannel is the channel a writer hears its confirmations on.
func ackChannel(instance int) string { return NotifyChannel + "_" + strconv.Itoa(instance) }

func (f *fleet) leave() {
	f.mu.Lock()
	id := f.id
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, _ = f.log.db.ExecContext(ctx, `/* fleet */ DELETE FROM cache_instances WHERE id = $1`, id)
}

func (f *fleet) run(ctx context.Context) {
	renew := time.NewTicker(f.cfg.Renew)
	defer renew.Stop()
	var reply chan error
	for {
		err := f.confirm(ctx)
		if err != nil && ctx.Err() == nil {
			quietlog.Warn(ctx, "fleet: confirming the L1 failed; it stops answering when its lease runs out", "err", err)
		}
		if reply != nil {
			reply <- err
			reply = nil
		}
		select {
		case <-ctx.Done():
			return
		case <-f.poke:
		case <-renew.C:
		case reply = <-f.now:
		}
	}
}

// ConfirmL1 runs a confirmation of this instance's L1 now and waits for it:
// once it returns nil, the L1 has dropped every change delivered before the
// call and its lease holds. Without a fleet it does nothing.
func (l *Log) ConfirmL1(ctx context.Context) error {
	f := l.fleet.Load()
	if f == nil {
		return nil
	}
	reply := make(chan error, 1)
	select {
	case f.now <- reply:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// onNotice handles the fleet's messages: on the log's channel
// "w:<instance>:<W>" (a writer asks the L1s to confirm after W), and on
// this instance's own channel "s:<W>" (the fleet confirmed our write of W).
func (f *fleet) onNotice(channel, kind string, id int64, rest string) {
	switch kind {
	case "w":
		if micros, err := strconv.ParseInt(rest, 10, 64); err == nil {
			f.asked(int(id), time.UnixMicro(micros))
		}
	case "s":
		if channel == ackChannel(f.instance()) {
			f.confirmedTo(time.UnixMicro(id))
		}
	}
}

// asked asks for a confirmation now on behalf of writer, which waits for
// every instance to have confirmed after w, unless the writer is this
// instance (which dropped what its write affects before asking).
func (f *fleet) asked(writer int, w time.Time) {
	f.mu.Lock()
	me := f.id
	if writer != me && w.After(f.askers[writer]) {
		f.askers[writer] = w
	}
	f.mu.Unlock()
	if writer == me {
		return
	}
	select {
	case f.poke <- struct{}{}:
	default:
	}
}

// confirmedTo wakes this instance's writers waiting for confirmations after
// a time up to w.
func (f *fleet) confirmedTo(w time.Time) {
	f.mu.Lock()
	if w.After(f.ackedTo) {
		f.ackedTo = w
		close(f.acked)
		f.acked = make(chan struct{})
	}
	f.mu.Unlock()
}

// confirm drops the changes delivered since the last confirmation from the
// L1, then records the confirmation and extends the lease, then tells the
// writers that asked for it whether the fleet has confirmed. With nothing
// to drop, reading and recording are one statement (an idle renewal);
// otherwise two, so that a writer waits little: one reads the clock (S) and
// the changes (its snapshot is taken after S), the other, after the drop,
// records S.
func (f *fleet) confirm(ctx context.Context) error {
	if f.cfg.Pause != nil {
		f.cfg.Pause(ctx)
	}
	sent := time.Now() // before the database reads its clock: see the deadline below
	f.mu.Lock()
	id, from := f.id, f.lastSync.Add(-fleetSlack)
	done := make([]int64, 0, len(f.processed))
	for cid := range f.processed {
		done = append(done, int64(cid))
	}
	askers := f.askers
	f.askers = make(map[int]time.Time)
	f.mu.Unlock()
	var (
		start    time.Time
		raw      []byte
		renewed  int
		answered int
		present  bool
		head     int64
	)
	writers, ws := askedOf(askers)
	err := scanRow(ctx, f.log.db, `/* fleet */
		WITH changes AS (
			SELECT c.id, c."all", c.users, c.delivered_at, c.created_at,
				(SELECT json_agg(u.user_id) FROM access_change_users u WHERE u.change_id = c.id) AS affected
			FROM access_changes c
			WHERE (c.delivered_at IS NULL OR c.delivered_at > $1) AND NOT c.id = ANY($2)),
		renewed AS (
			UPDATE cache_instances SET synced_at = now(), lease_until = now() + make_interval(secs => $3)
			WHERE id = $4 AND NOT EXISTS (SELECT 1 FROM changes WHERE delivered_at IS NOT NULL)
			RETURNING id),
		`+answeredCTE(4, 5)+`
		SELECT now(),
			(SELECT COALESCE(json_agg(json_build_object('id', id, 'all', "all", 'users', users,
				'delivered_at', delivered_at, 'created_at', created_at, 'affected', affected)), '[]') FROM changes),
			(SELECT count(*) FROM renewed),
			(SELECT count(*) FROM answered),
			EXISTS (SELECT 1 FROM cache_instances WHERE id = $4),
			COALESCE((SELECT max(id) FROM access_changes WHERE delivered_at IS NOT NULL), 0)`,
		[]any{from, pq.Array(done), f.cfg.Lease.Seconds(), id, NotifyChannel, writers, ws}, &start, &raw, &renewed, &answered, &present, &head)
	if err != nil {
		f.reask(askers)
		return fmt.Errorf("read changes: %w", err)
	}
	if !present {
		// Our row is gone (removed as long dead): we may have missed
		// anything. Start again, empty.
		f.reask(askers)
		return f.register(ctx)
	}
	var changes []seenChange
	if err := json.Unmarshal(raw, &changes); err != nil {
		f.reask(askers)
		return fmt.Errorf("read changes: %w", err)
	}
	f.log.polled(head, overdue(changes, start, f.log.grace()))
	// A change committed but not delivered: Redis may still hold the old
	// answers and the L1 may hold them too. The L1 stops answering until the
	// delivery (whoever makes it) is confirmed, which drops them.
	if f.drop(changes) {
		f.tier.Suspend()
	} else {
		f.tier.Resume()
	}
	if renewed == 0 {
		err = scanRow(ctx, f.log.db, `/* fleet */
			WITH renewed AS (
				UPDATE cache_instances SET synced_at = $1, lease_until = now() + make_interval(secs => $2)
				WHERE id = $3 RETURNING id),
			`+answeredCTE(3, 4)+`
			SELECT (SELECT count(*) FROM renewed), (SELECT count(*) FROM answered)`,
			[]any{start, f.cfg.Lease.Seconds(), id, NotifyChannel, writers, ws}, &renewed, &answered)
		if err == nil && renewed == 0 {
			err = sql.ErrNoRows
		}
		if errors.Is(err, sql.ErrNoRows) {
			f.reask(askers)
			return f.register(ctx)
		}
		if err != nil {
			f.reask(askers)
			return fmt.Errorf("extend lease: %w", err)
		}
	}
	// now() + Lease in the database happened after sent; stopping at
	// sent + 90 % of the lease keeps us inside it, with room for clocks that
	// run at slightly different rates.
	f.tier.ExtendLease(sent.Add(f.cfg.Lease * 9 / 10))
	f.syncs.Inc()
	f.mu.Lock()
	f.lastSync = start
	for cid, at := range f.processed {
		if at.Before(start.Add(-fleetSlack)) {
			delete(f.processed, cid)
		}
	}
	f.mu.Unlock()
	return nil
}

// answeredCTE is the part of a confirmation's statement that tells each
// writer that asked for it (parameters $ch, $ch+1, $ch+2: the channel, the
// writers, their W in microseconds), on the writer's own channel, when no
// instance whose lease holds still owes it a confirmation. It runs in the
// statement that records this instance's confirmation ("renewed", the row
// of parameter $me), so it sees the others as of that statement's start:
// of the last instances to confirm, one whose statement started after the
// others' committed tells the writer; when the last ones overlap, none
// does, and the writer reads the table itself (await).
func answeredCTE(me, ch int) string {
	return fmt.Sprintf(`answered AS (
			SELECT pg_notify($%[2]d || '_' || a.writer, 's:' || a.w)
			FROM unnest($%[3]d::bigint[], $%[4]d::bigint[]) AS a(writer, w)
			WHERE EXISTS (SELECT 1 FROM renewed)
			  AND NOT EXISTS (SELECT 1 FROM cache_instances i
				WHERE i.id <> a.writer AND i.id <> $%[1]d AND i.lease_until > now()
				  AND i.synced_at < timestamptz 'epoch' + a.w * interval '1 microsecond'))`, me, ch, ch+1, ch+2)
}

// askedOf is the writers of askers and their W in microseconds, as the
// statement's arrays.
func askedOf(askers map[int]time.Time) (writers, ws any) {
	ids := make([]int64, 0, len(askers))
	micros := make([]int64, 0, len(askers))
	for writer, w := range askers {
		ids = append(ids, int64(writer))
		micros = append(micros, w.UnixMicro())
	}
	return pq.Array(ids), pq.Array(micros)
}

// reask keeps the requests of a confirmation that failed for the next one.
func (f *fleet) reask(askers map[int]time.Time) {
	f.mu.Lock()
	for writer, w := range askers {
		if w.After(f.askers[writer]) {
			f.askers[writer] = w
		}
	}
	f.mu.Unlock()
}

// overdue reports whether a change committed more than grace before now is
// still undelivered.
func overdue(changes []seenChange, now time.Time, grace time.Duration) bool {
	for _, c := range changes {
		if c.DeliveredAt == nil && c.CreatedAt.Before(now.Add(-grace)) {
			return true
		}
	}
	return false
}

// seenChange is what a reader of the log needs of a delivered change to know
// whom it affected (affectedUsers).
type seenChange struct {
	ID          int        `json:"id"`
	All         bool       `json:"all"`
	Users       []int      `json:"users"`
	DeliveredAt *time.Time `json:"delivered_at"`
	CreatedAt   time.Time  `json:"created_at"`
	// Affected are the holders the delivery found, recorded with it.
	Affected []int `json:"affected"`
}

// alreadyDropped records that this instance delivered change id itself,
// and so dropped what it affects from its L1. (Its delivery time is the
// database's; the local clock only decides when to forget the ID.)
func (f *fleet) alreadyDropped(id int) {
	f.mu.Lock()
	f.processed[id] = time.Now()
	f.mu.Unlock()
}

// droppedOnNotice drops from the L1 whom delivered change id affected, as
// its notification named them, and records it dropped: the confirmation a
// writer asks for next need not read it.
func (f *fleet) droppedOnNotice(id int, users []int, all bool) {
	if all {
		f.tier.DropAll()
	} else {
		f.tier.Drop(users)
	}
	f.alreadyDropped(id)
}

// drop removes from the L1 the users of the delivered changes, and reports
// whether any change is not delivered yet.
func (f *fleet) drop(changes []seenChange) (undelivered bool) {
	var delivered []seenChange
	f.mu.Lock()
	for _, c := range changes {
		if c.DeliveredAt == nil {
			undelivered = true
			continue
		}
		delivered = append(delivered, c)
		f.processed[c.ID] = *c.DeliveredAt
	}
	f.mu.Unlock()
	if users, all := affectedUsers(delivered); all {
		f.tier.DropAll()
	} else {
		f.tier.Drop(users)
	}
	return undelivered
}

// await returns once every other instance whose lease held when the change
// was delivered has confirmed dropping it, or its lease has run out. Call it
// after the delivery has committed. The wait is bounded by the lease alone:
// neither the request's deadline nor a client hanging up may end it early,
// or the write would return while an instance still answers the old value
// from memory. Every lease held when it starts has run out a lease later
// (plus a margin for the two clocks' rates), so that bounds it.
func (f *fleet) await(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.cfg.Lease+leaseMargin)
	defer cancel()
	begin := time.Now()
	defer func() { f.waitSeconds.Observe(time.Since(begin).Seconds()) }()
	// W, whether anyone else holds a lease, and a request to confirm sent
	// after W, in one statement (the notification leaves when it commits):
	// the confirmations it prompts start after W (their S >= W), so a
	// writer waits for one notification and one confirmation, not for the
	// next renewal.
	f.mu.Lock()
	me := f.id
	f.mu.Unlock()
	var (
		w      time.Time
		others int
		next   float64 // seconds until the first other lease runs out
		asked  int
	)
	err := scanRow(ctx, f.log.db, `/* fleet */
		SELECT s.w, s.n, s.next, (SELECT count(*) FROM (SELECT pg_notify($1, 'w:' || $2 || ':' || (EXTRACT(EPOCH FROM s.w) * 1000000)::bigint) WHERE s.n > 0) x)
		FROM (SELECT now() AS w, count(*) AS n,
		             COALESCE(EXTRACT(EPOCH FROM min(lease_until) - now()), 0)::float8 AS next
		      FROM cache_instances WHERE id <> $2 AND lease_until > now()) s`,
		[]any{NotifyChannel, me}, &w, &others, &next, &asked)
	if err != nil {
		f.sitOut(ctx, err)
		return
	}
	if others == 0 {
		return // alone: nobody else holds an L1
	}
	for poll := ackPollFirst; ; poll = min(2*poll, ackPollMax) {
		f.mu.Lock()
		acked, done := f.acked, !f.ackedTo.Before(w)
		f.mu.Unlock()
		if done {
			return // the last instance to confirm said so
		}
		timer := time.NewTimer(min(poll, time.Duration(next*float64(time.Second))+time.Millisecond))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-acked:
			timer.Stop()
			continue
		case <-timer.C:
		}
		// Nobody said so yet: a lease ran out, or a notification was lost.
		var waiting, fenced int
		err := scanRow(ctx, f.log.db, `/* fleet */
			SELECT count(*) FILTER (WHERE lease_until > now()),
			       count(*) FILTER (WHERE lease_until <= now()),
			       COALESCE(EXTRACT(EPOCH FROM min(lease_until) FILTER (WHERE lease_until > now()) - now()), 0)::float8
			FROM cache_instances
			WHERE id <> $1 AND lease_until > $2 AND synced_at < $2`, []any{me, w}, &waiting, &fenced, &next)
		if err != nil {
			f.sitOut(ctx, err)
			return
		}
		if waiting == 0 {
			f.fenced.Add(float64(fenced))
			return
		}
	}
}

// alone reports whether no other instance holds a lease (false when the
// database cannot say).
func (f *fleet) alone(ctx context.Context) bool {
	f.mu.Lock()
	me := f.id
	f.mu.Unlock()
	var others int
	err := scanRow(ctx, f.log.db, `/* fleet */ SELECT count(*) FROM cache_instances WHERE id <> $1 AND lease_until > now()`,
		[]any{me}, &others)
	return err == nil && others == 0
}

// A writer that has not heard from the fleet reads the confirmations itself
// after ackPollFirst, then at doubling intervals up to ackPollMax (and at
// the first waited-for lease's end): the last confirmations overlapping is
// common in a large fleet, and then it is done at the first read; an
// instance gone silent costs a read every ackPollMax until its lease ends.
const (
	ackPollFirst = 10 * time.Millisecond
	ackPollMax   = 160 * time.Millisecond
)

// leaseMargin is what await allows beyond a lease.
const leaseMargin = 100 * time.Millisecond

// sitOut, when the database cannot say who confirmed, waits out a lease:
// by then every silent instance has stopped using its L1. (Every instance of
// a fleet is expected to run with the same CACHE_L1_LEASE.)
func (f *fleet) sitOut(ctx context.Context, err error) {
	quietlog.Warn(ctx, "fleet: cannot read confirmations; waiting out the leases", "err", err)
	select {
	case <-ctx.Done():
	case <-time.After(f.cfg.Lease):
	}
}

// scanRow scans the one row of a raw statement into dest. The fleet's
// statements are raw SQL because they read and write the database's clock;
// they start with a "/* fleet */" comment, so that pg_stat_activity (and the
// tests' statement counter) tell them from requests' work.
func scanRow(ctx context.Context, db interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}, query string, args []any, dest ...any) error {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return sql.ErrNoRows
	}
	if err := rows.Scan(dest...); err != nil {
		return err
	}
	return rows.Close()
}
