package freshness

// The expiry watcher: at each end of a time-bound grant it commits the
// "expire" entry of the access-change log, once across every instance
// (docs/design.md, "Time-bound grants"). The entry is a second line behind
// the first two (queries filter ended grants out on the database's clock;
// every cached answer carries the earliest end it was built from), never
// the one correctness rests on: the audit trail shows the end,
// accessChanged pushes it, its delivery invalidates like any write.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"authz-gateway/ent"
	"authz-gateway/quietlog"
	"authz-gateway/reqctx"
)

// Ends is what the expiry watcher asks the domain about time-bound grants.
type Ends interface {
	// NextEnd returns the earliest end whose entry is not logged yet, on
	// this process's clock (zero: none).
	NextEnd(ctx context.Context) (time.Time, error)
	// Ended returns up to limit grants that have ended and whose entry is
	// not logged.
	Ended(ctx context.Context, limit int) ([]Grant, error)
	// Expire marks g's end logged inside tx and returns the change it
	// makes; ErrLoggedAlready when another instance logged it first.
	Expire(ctx context.Context, tx *ent.Tx, g Grant) (Change, error)
}

// Grant names one time-bound grant: Kind "role", "scope" (assignments) or
// "membership" (of a team), and its ID.
type Grant struct {
	Kind string
	ID   int
}

// ErrLoggedAlready rolls back an expiry another instance logged first.
var ErrLoggedAlready = errors.New("expiry logged already")

// ExpiryConfig tunes the expiry watcher.
type ExpiryConfig struct {
	// Poll is how often the watcher looks for the next end when nothing
	// told it of one (default 5 s, one statement): an end set through
	// another instance is logged within about this, even if that instance
	// is gone. (That instance logs it at the end itself while it runs, and
	// answers never outlive their end whether or not it is logged.)
	Poll time.Duration
}

// expiryBatch bounds the ended grants one pass logs; the next pass follows
// at once.
const expiryBatch = 100

// StartExpiry starts the instance's expiry watcher over ends. The returned
// function stops it.
func (l *Log) StartExpiry(cfg ExpiryConfig, ends Ends) (stop func()) {
	if cfg.Poll <= 0 {
		cfg.Poll = 5 * time.Second
	}
	ctx, cancel := context.WithCancel(reqctx.NewContextWithSystem(context.Background()))
	var wg sync.WaitGroup
	wg.Go(func() { l.watchEnds(ctx, cfg, ends) })
	return func() {
		cancel()
		wg.Wait()
	}
}

// WakeExpiry tells the expiry watcher that a grant with an end was written
// here: it may end before the watcher's next look.
func (l *Log) WakeExpiry() {
	select {
	case l.expiryWake <- struct{}{}:
	default:
	}
}

func (l *Log) watchEnds(ctx context.Context, cfg ExpiryConfig, ends Ends) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.expiryWake:
		case <-timer.C:
		}
		wait := cfg.Poll
		next, err := l.logEnded(ctx, ends)
		switch {
		case err != nil && ctx.Err() == nil:
			quietlog.Warn(ctx, "expiry watcher: logging ended grants", "err", err)
		case !next.IsZero():
			// Woken at the end itself; at least a few ms, so a clock a little
			// ahead of the database's does not spin.
			wait = min(wait, max(time.Until(next), 5*time.Millisecond))
		}
		timer.Reset(wait)
	}
}

// logEnded commits an "expire" entry for every ended grant not logged yet
// and returns the next end to come (zero: none known). While nothing has
// ended (the usual poll), it is one statement.
func (l *Log) logEnded(ctx context.Context, ends Ends) (next time.Time, err error) {
	next, err = ends.NextEnd(ctx)
	if err != nil || next.IsZero() || next.After(time.Now()) {
		return next, err
	}
	due, err := ends.Ended(ctx, expiryBatch)
	if err != nil {
		return time.Time{}, err
	}
	for _, g := range due {
		if err := l.logExpiry(ctx, ends, g); err != nil {
			return time.Time{}, err
		}
	}
	if len(due) == expiryBatch {
		return time.Now(), nil // more to log: come back at once
	}
	return ends.NextEnd(ctx)
}

// logExpiry commits the "expire" entry of one ended grant, in the
// transaction that marks it logged (Ends.Expire): its conditional update
// lets one instance through, so the entry is written once.
func (l *Log) logExpiry(ctx context.Context, ends Ends, g Grant) error {
	err := l.Commit(ctx, "expire", func(ctx context.Context, tx *ent.Tx) (Change, error) {
		return ends.Expire(ctx, tx, g)
	})
	if errors.Is(err, ErrLoggedAlready) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("log the end of %s assignment %d: %w", g.Kind, g.ID, err)
	}
	slog.InfoContext(ctx, "time-bound grant ended", "kind", g.Kind, "assignment", g.ID)
	return nil
}
