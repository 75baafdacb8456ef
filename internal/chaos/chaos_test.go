package chaos

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"authz-gateway/access"
	"authz-gateway/internal/testenv"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
)

// The randomized fault test (`make chaos`; a short run in `make test`):
// three instances as in production (PostgreSQL, Redis, L1 on), each
// reaching Redis and PostgreSQL through TCP proxies of its own; writers
// grant and revoke one project scope of each of six users on random
// instances (four hold it themselves, two through a team of their own, whose
// scope is toggled: a team change), one write of a user at a time, while readers ask as those
// users and as the admin about them, through the HTTP handler; a seeded
// schedule kills Redis (restarting it empty or from an older snapshot),
// pauses it, cuts an instance's link to Redis or to PostgreSQL, and kills
// and restarts instances. Every operation's call and return is recorded
// and the history checked (history.go): stale reads and torn answers fail
// the test; reads out of order while a write is in flight are reported.
//
//	CHAOS_DURATION (default 10s), CHAOS_SEED (default: from the clock,
//	printed), CHAOS_HISTORY (a file to keep the history in, JSON),
//	CHAOS_FAULTS=none (the same load without faults: the baseline).
func TestChaos(t *testing.T) {
	testenv.Slow(t, "a seeded fault schedule")
	duration := 10 * time.Second
	if d, err := time.ParseDuration(os.Getenv("CHAOS_DURATION")); err == nil {
		duration = d
	}
	seed := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("CHAOS_SEED"), 10, 64); err == nil {
		seed = s
	}
	t.Logf("chaos: seed %d, %s (replay: CHAOS_SEED=%d CHAOS_DURATION=%s make chaos)", seed, duration, seed, duration)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))

	w := newWorld(t)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, u := range w.users {
		wg.Add(1)
		go func() { defer wg.Done(); w.writeLoop(u, rand.New(rand.NewPCG(seed, uint64(u.id))), stop) }()
	}
	for i := range readers {
		wg.Add(1)
		go func() { defer wg.Done(); w.readLoop(i, rand.New(rand.NewPCG(seed, uint64(1000+i))), stop) }()
	}

	var faults map[string]int
	if os.Getenv("CHAOS_FAULTS") == "none" {
		// The baseline: the same load without faults.
		time.Sleep(duration)
	} else {
		faults = w.schedule(t, rng, duration)
	}
	close(stop)
	wg.Wait()

	ops := w.history()
	report := Check(ops, w.initial())
	for _, k := range slices.Sorted(maps.Keys(faults)) {
		t.Logf("chaos: fault %s x%d", k, faults[k])
	}
	t.Logf("chaos: %d reads (%d failed, %d unjudged), %d acknowledged writes (%d failed); stale %d, torn %d; out of order while a write was in flight %d (longest %s)",
		report.Reads, report.FailedReads, report.Unjudged, report.Writes, report.FailedWrites,
		len(report.Stale), len(report.Torn), report.Unordered, report.LongestUnordered)
	if path := os.Getenv("CHAOS_HISTORY"); path != "" {
		b, _ := json.Marshal(ops)
		if err := os.WriteFile(path, b, 0o644); err == nil {
			t.Logf("chaos: history kept in %s", path)
		}
	}
	for _, op := range report.Stale[:min(len(report.Stale), 20)] {
		t.Errorf("stale read: %+v", op)
	}
	for _, op := range report.Torn[:min(len(report.Torn), 20)] {
		t.Errorf("torn answer: %+v", op)
	}
	assert.Positive(t, report.Reads)
	assert.Positive(t, report.Writes)
	if duration >= time.Minute {
		assert.GreaterOrEqual(t, report.Reads, 2000)
		assert.GreaterOrEqual(t, report.Writes, 200)
	}
}

// world is the system under test: the instances, their links, the users
// and the recorded history.
type world struct {
	t      *testing.T
	redis  *testenv.RedisServer
	store  redis.UniversalClient // straight to Redis, for snapshots
	dbURL  string
	dbHost string

	mu        sync.RWMutex
	instances []*instance

	users        []*user
	readerAdmins []string

	opsMu sync.Mutex
	ops   []Op
}

type instance struct {
	index     int
	g         *testenv.Gateway
	redisLink *testenv.Proxy
	dbLink    *testenv.Proxy
	down      atomic.Bool
}

type user struct {
	id, project, scope int
	token              string
	// admin is the token of the admin who writes this user's grant (each
	// writer and reader spends its own rate limit, as distinct clients do).
	admin   string
	granted bool // the writer's own view: what it last wrote
}

const (
	instances = 3
	readers   = 4
	// teamHeld: users from this index on hold their grant through a team.
	teamHeld = 4
	// readEvery paces each reader (about 30 reads a second each): the
	// production rate limit (50 a second per viewer) stays out of the way.
	readEvery = 30 * time.Millisecond
)

func newWorld(t *testing.T) *world {
	w := &world{t: t, redis: testenv.StartRedis(t)}
	w.store = testenv.NewRedisClient(t, w.redis.Addr)
	w.dbURL = testenv.PostgresURL(t)
	u, err := url.Parse(w.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	w.dbHost = u.Host
	for i := range instances {
		w.instances = append(w.instances, w.startInstance(i))
	}
	g := w.instances[0].g
	world := testenv.NewWorld(t, g.DB.Client)
	program := world.Program("Chaos")
	for i := range 6 {
		id := world.User(fmt.Sprintf("chaos%d@test.example", i))
		world.Role(id, access.RoleViewer)
		project := world.Project(program, fmt.Sprint("project ", i))
		u := &user{id: id, project: project, granted: true}
		if i < teamHeld {
			u.scope = world.InProject(id, project)
		} else {
			// Held through a team of one's own: the writes toggle the
			// team's scope, a change whose members are found at delivery.
			team := world.Team(fmt.Sprint("chaos team ", i))
			world.Member(team, id)
			u.scope = world.TeamInProject(team, project)
		}
		u.token = g.Token(t, id)
		u.admin = g.Token(t, w.newAdmin(world, fmt.Sprintf("writer%d@test.example", i)))
		w.users = append(w.users, u)
	}
	for i := range readers {
		w.readerAdmins = append(w.readerAdmins, g.Token(t, w.newAdmin(world, fmt.Sprintf("reader%d@test.example", i))))
	}
	// Everyone's answers cached in Redis and in every L1 before the first fault.
	for _, in := range w.instances {
		for _, u := range w.users {
			in.g.Do(t, u.token, `{ me { can(permission: PROJECT_READ, on: "`+strconv.Itoa(u.project)+`") } }`, nil)
		}
	}
	return w
}

// startInstance starts instance i behind links of its own.
func (w *world) startInstance(i int) *instance {
	in := &instance{index: i, redisLink: testenv.StartProxy(w.t, w.redis.Addr), dbLink: testenv.StartProxy(w.t, w.dbHost)}
	u, _ := url.Parse(w.dbURL)
	u.Host = in.dbLink.Addr
	in.g = testenv.NewGateway(w.t, testenv.Options{DatabaseURL: u.String(), RedisAddr: in.redisLink.Addr,
		RateLimit: testenv.ProductionRateLimit()})
	return in
}

func (w *world) newAdmin(world *testenv.World, email string) int {
	id := world.User(email)
	world.Role(id, access.RoleAdmin)
	world.Global(id)
	return id
}

func (w *world) initial() map[int]bool {
	out := map[int]bool{}
	for _, u := range w.users {
		out[u.id] = true
	}
	return out
}

func (w *world) record(op Op) {
	w.opsMu.Lock()
	w.ops = append(w.ops, op)
	w.opsMu.Unlock()
}

func (w *world) history() []Op {
	w.opsMu.Lock()
	defer w.opsMu.Unlock()
	return slices.Clone(w.ops)
}

// pick returns a random live instance (nil: none).
func (w *world) pick(rng *rand.Rand) *instance {
	w.mu.RLock()
	defer w.mu.RUnlock()
	for range 10 {
		in := w.instances[rng.IntN(len(w.instances))]
		if !in.down.Load() {
			return in
		}
	}
	return nil
}

// writeLoop toggles u's scope on random instances, one write at a time.
func (w *world) writeLoop(u *user, rng *rand.Rand, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-time.After(time.Duration(20+rng.IntN(100)) * time.Millisecond):
		}
		in := w.pick(rng)
		if in == nil {
			continue
		}
		want := !u.granted
		mutation := "deactivateScope"
		if want {
			mutation = "activateScope"
		}
		op := Op{Write: true, User: u.id, Value: want, Instance: in.index, Doc: mutation, Call: time.Now()}
		res, ok := do(in, u.admin, `mutation($id: ID!) { `+mutation+`(id: $id) { id } }`, map[string]any{"id": strconv.Itoa(u.scope)})
		op.Return = time.Now()
		op.OK = ok && res.Status == 200 && len(res.Errors) == 0
		w.record(op)
		if op.OK {
			u.granted = want
		} else {
			// Its effect is unknown: the next write sets it for sure.
			u.granted = !want
			if rng.IntN(2) == 0 {
				u.granted = want
			}
		}
	}
}

// The documents the readers send: as the user, and as the admin about the
// user; each answer says whether the user holds the grant, and the
// two-part ones must agree with themselves.
var readDocs = []string{"can", "lists", "checkAccess", "node"}

func (w *world) readLoop(reader int, rng *rand.Rand, stop <-chan struct{}) {
	admin := w.readerAdmins[reader]
	for {
		select {
		case <-stop:
			return
		case <-time.After(readEvery):
		}
		in := w.pick(rng)
		if in == nil {
			continue
		}
		u := w.users[rng.IntN(len(w.users))]
		doc := readDocs[rng.IntN(len(readDocs))]
		op := Op{User: u.id, Instance: in.index, Doc: doc, Call: time.Now()}
		op.Value, op.Torn, op.OK = w.read(in, admin, u, doc)
		op.Return = time.Now()
		w.record(op)
	}
}

// read asks in, as doc says, whether u holds the grant.
func (w *world) read(in *instance, admin string, u *user, doc string) (granted, torn, ok bool) {
	project, user := strconv.Itoa(u.project), strconv.Itoa(u.id)
	type lists struct {
		AccessibleProjects []struct{ ID string }
		ScopeSummary       struct {
			AccessibleProjectCount int
			DirectScopes           []struct{ ID string }
		}
	}
	// judge reads a user's lists: the project listed, and torn when the
	// list, the count and the direct scopes disagree.
	judge := func(l lists) (bool, bool) {
		listed := slices.ContainsFunc(l.AccessibleProjects, func(p struct{ ID string }) bool { return p.ID == project })
		scoped := len(l.ScopeSummary.DirectScopes) > 0
		return listed, listed != scoped || l.ScopeSummary.AccessibleProjectCount != len(l.AccessibleProjects)
	}
	const listFields = `accessibleProjects { id } scopeSummary { accessibleProjectCount directScopes { id } }`
	switch doc {
	case "can":
		res, ok := do(in, u.token, `{ me { can(permission: PROJECT_READ, on: "`+project+`") } }`, nil)
		var out struct{ Me struct{ Can bool } }
		if !decoded(res, ok, &out) {
			return false, false, false
		}
		return out.Me.Can, false, true
	case "lists":
		res, ok := do(in, u.token, `{ me { `+listFields+` } }`, nil)
		var out struct{ Me lists }
		if !decoded(res, ok, &out) {
			return false, false, false
		}
		granted, torn := judge(out.Me)
		return granted, torn, true
	case "checkAccess":
		res, ok := do(in, admin, `{ checkAccess(checks: [{userId: "`+user+`", permission: PROJECT_READ, on: "`+project+`"}]) }`, nil)
		var out struct{ CheckAccess []bool }
		if !decoded(res, ok, &out) || len(out.CheckAccess) != 1 {
			return false, false, false
		}
		return out.CheckAccess[0], false, true
	default: // node, as the admin
		res, ok := do(in, admin, `{ node(id: "`+user+`") { ... on User { `+listFields+` } } }`, nil)
		var out struct{ Node lists }
		if !decoded(res, ok, &out) {
			return false, false, false
		}
		granted, torn := judge(out.Node)
		return granted, torn, true
	}
}

// do sends a GraphQL request to in's handler; false when the answer is
// not a GraphQL response (it never fails the test: a fault may cause it).
func do(in *instance, token, query string, vars map[string]any) (testenv.Response, bool) {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	rec := testenv.Serve(in.g.Handler, req)
	res := testenv.Response{Status: rec.Code}
	return res, json.Unmarshal(rec.Body.Bytes(), &res) == nil
}

func decoded(res testenv.Response, ok bool, into any) bool {
	if !ok || res.Status != 200 || len(res.Errors) > 0 || len(res.Data) == 0 {
		return false
	}
	return json.Unmarshal(res.Data, into) == nil
}

// schedule injects faults for d, seeded by rng, and heals each; it
// returns how often each kind was injected.
func (w *world) schedule(t *testing.T, rng *rand.Rand, d time.Duration) map[string]int {
	done := map[string]int{}
	end := time.Now().Add(d)
	snapshotAt := time.Now()
	if err := w.store.Save(t.Context()).Err(); err != nil {
		t.Logf("chaos: first snapshot: %v", err)
	}
	kinds := []string{"redis-restart-snapshot", "redis-restart-empty", "redis-pause", "cut-redis", "cut-postgres", "instance-restart"}
	for i := 0; time.Now().Before(end); i++ {
		time.Sleep(time.Duration(300+rng.IntN(1200)) * time.Millisecond)
		// The first rounds go through every kind once, then at random.
		kind := kinds[rng.IntN(len(kinds))]
		if i < len(kinds) {
			kind = kinds[i]
		}
		hold := time.Duration(300+rng.IntN(2000)) * time.Millisecond
		in := w.instances[rng.IntN(len(w.instances))]
		t.Logf("chaos: %s at %s (instance %d, %s)", kind, time.Now().Format("15:04:05.000"), in.index, hold)
		switch kind {
		case "redis-restart-snapshot":
			w.redis.Restart(t) // the snapshot of snapshotAt: older than every write since
			t.Logf("chaos: Redis back from a snapshot %s old", time.Since(snapshotAt).Round(time.Millisecond))
			time.Sleep(hold)
		case "redis-restart-empty":
			w.redis.RestartEmpty(t)
			time.Sleep(hold)
		case "redis-pause":
			_ = w.redis.Freeze()
			time.Sleep(hold)
			_ = w.redis.Thaw()
		case "cut-redis":
			in.redisLink.Blackhole()
			time.Sleep(hold)
			in.redisLink.Restore()
		case "cut-postgres":
			in.dbLink.Blackhole()
			time.Sleep(hold)
			in.dbLink.Restore()
		case "instance-restart":
			w.restart(in, hold)
		}
		done[kind]++
		if rng.IntN(3) == 0 {
			// A snapshot for a later restart to go back to.
			if err := w.store.Save(t.Context()).Err(); err == nil {
				snapshotAt = time.Now()
			}
		}
	}
	return done
}

// restart stops instance in (no operation reaches it), leaves it down for
// hold, and starts a new one in its place.
func (w *world) restart(in *instance, hold time.Duration) {
	in.down.Store(true)
	time.Sleep(50 * time.Millisecond) // operations under way end
	in.g.App.Close()
	time.Sleep(hold)
	fresh := w.startInstance(in.index)
	w.mu.Lock()
	w.instances[in.index] = fresh
	w.mu.Unlock()
}
