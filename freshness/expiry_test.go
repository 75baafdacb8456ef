package freshness

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"authz-gateway/cache"
	"authz-gateway/db"
	"authz-gateway/ent"
	"authz-gateway/ent/accesschange"
	"authz-gateway/reqctx"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sqliteLog is a Log over a fresh embedded database and the in-process
// store: the protocol's single-instance shape, no services needed.
func sqliteLog(t *testing.T) (*Log, *ent.Client) {
	t.Helper()
	d, err := db.OpenSQLite(filepath.Join(t.TempDir(), "gateway.db"), db.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })
	require.NoError(t, d.Migrate(reqctx.NewContextWithSystem(context.Background())))
	positions := NewPositions()
	c, _ := cache.New(cache.NewMemoryStore(), cache.Config{Accept: positions.Accept})
	return New(Config{DB: d.Client, Cache: c, Positions: positions}), d.Client
}

// fakeEnds reports grants as ended and lets each be expired once, like the
// conditional update of the domain's Expire (which, having marked a grant
// logged, never reports it ended again).
type fakeEnds struct {
	mu      sync.Mutex
	pending []Grant
	logged  map[Grant]int // Expire calls that went through
	refused int           // calls answered ErrLoggedAlready
}

func (f *fakeEnds) NextEnd(context.Context) (time.Time, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.pending) == 0 {
		return time.Time{}, nil
	}
	return time.Now().Add(-time.Millisecond), nil
}

func (f *fakeEnds) Ended(_ context.Context, limit int) ([]Grant, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Grant(nil), f.pending[:min(limit, len(f.pending))]...), nil
}

func (f *fakeEnds) Expire(_ context.Context, _ *ent.Tx, g Grant) (Change, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	// Logged now, here or (before) elsewhere: no longer pending.
	for i, p := range f.pending {
		if p == g {
			f.pending = append(f.pending[:i], f.pending[i+1:]...)
			break
		}
	}
	if f.logged[g] > 0 {
		f.refused++
		return Change{}, ErrLoggedAlready
	}
	f.logged[g]++
	return Change{Users: []int{g.ID}, Target: g.Kind}, nil
}

// More grants ended than one pass logs: every one gets its "expire" entry,
// once, delivered; a grant another instance logged first (ErrLoggedAlready)
// adds no entry and stops nothing.
func TestExpiry_EveryEndIsLoggedOnceAndDelivered(t *testing.T) {
	l, client := sqliteLog(t)
	ends := &fakeEnds{logged: map[Grant]int{}}
	for i := range expiryBatch + 5 {
		ends.pending = append(ends.pending, Grant{Kind: "role", ID: i + 1})
	}
	ends.logged[Grant{Kind: "role", ID: 3}] = 1 // another instance was first
	stop := l.StartExpiry(ExpiryConfig{Poll: time.Hour}, ends)
	defer stop()

	ctx := reqctx.NewContextWithSystem(context.Background())
	// An entry commits before its writer delivers it: wait for both.
	require.Eventually(t, func() bool {
		n, err := client.AccessChange.Query().Where(accesschange.Operation("expire")).Count(ctx)
		return err == nil && n == expiryBatch+4
	}, 10*time.Second, 10*time.Millisecond, "one entry per grant but the one logged elsewhere")
	require.Eventually(t, func() bool {
		undelivered, err := client.AccessChange.Query().Where(accesschange.DeliveredAtIsNil()).Count(ctx)
		return err == nil && undelivered == 0
	}, 10*time.Second, 10*time.Millisecond, "each entry delivered by its writer")
	n, err := client.AccessChange.Query().Where(accesschange.Operation("expire")).Count(ctx)
	require.NoError(t, err)
	assert.Equal(t, expiryBatch+4, n, "no grant logged twice")
	ends.mu.Lock()
	defer ends.mu.Unlock()
	assert.Equal(t, 1, ends.refused)
	for g, n := range ends.logged {
		assert.Equal(t, 1, n, "grant %v", g)
	}
}

// WakeExpiry makes the watcher look at once, not at its next poll: a grant
// written with an end shorter than the poll is logged at its end.
func TestExpiry_WakeLooksAtOnce(t *testing.T) {
	l, client := sqliteLog(t)
	ends := &fakeEnds{logged: map[Grant]int{}}
	stop := l.StartExpiry(ExpiryConfig{Poll: time.Hour}, ends)
	defer stop()
	time.Sleep(20 * time.Millisecond) // the first look found nothing: next in an hour

	ends.mu.Lock()
	ends.pending = []Grant{{Kind: "scope", ID: 7}}
	ends.mu.Unlock()
	l.WakeExpiry()
	ctx := reqctx.NewContextWithSystem(context.Background())
	require.Eventually(t, func() bool {
		n, err := client.AccessChange.Query().Where(accesschange.Operation("expire")).Count(ctx)
		return err == nil && n == 1
	}, 5*time.Second, 5*time.Millisecond)
}
