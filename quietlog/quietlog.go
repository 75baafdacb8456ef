// Package quietlog logs repeated warnings at most once per interval each:
// a dependency that stays down (Redis, the database) must not flood the log
// with one line per request, per sweep or per probe. The first occurrence
// of a message is logged at once; later ones within the interval are
// counted, and the count is reported with the next one logged.
package quietlog

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Interval is how often each message may be logged.
const Interval = 10 * time.Second

var (
	mu    sync.Mutex
	kinds = map[string]*kind{}
	now   = time.Now
)

type kind struct {
	last       time.Time
	suppressed int
}

// Warn logs msg with args at warning level, unless the same msg was logged
// less than Interval ago (then it is only counted).
func Warn(ctx context.Context, msg string, args ...any) {
	mu.Lock()
	k := kinds[msg]
	if k == nil {
		k = &kind{}
		kinds[msg] = k
	}
	t := now()
	if !k.last.IsZero() && t.Sub(k.last) < Interval {
		k.suppressed++
		mu.Unlock()
		return
	}
	suppressed := k.suppressed
	k.last, k.suppressed = t, 0
	mu.Unlock()
	if suppressed > 0 {
		args = append(args, "repeated", suppressed)
	}
	slog.WarnContext(ctx, msg, args...)
}
