package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// One slow request in one late 100 ms window (a GC pause) decides the
// strict measure; the 1 s measure sees the thousands around it. A slow
// second does count, and so does a failure.
func TestRecoveredAfter_OneSlowWindowIsNotASlowSecond(t *testing.T) {
	fast := func() window {
		w := window{}
		for range 400 {
			w.latencies = append(w.latencies, time.Millisecond)
		}
		return w
	}
	r := loopResult{}
	for range 100 { // 10 s
		r.windows = append(r.windows, fast())
	}
	for i := range 6 {
		r.windows[90].latencies[i] = 50 * time.Millisecond // the 4th slowest of 400 is the p99
	}
	assert.Equal(t, 9100*time.Millisecond, r.recoveredAfter(10*time.Millisecond, 1))
	assert.Zero(t, r.recoveredAfter(10*time.Millisecond, 10))

	for i := 20; i < 30; i++ { // a slow second from 2 s to 3 s
		for j := range r.windows[i].latencies {
			r.windows[i].latencies[j] = 20 * time.Millisecond
		}
	}
	assert.Equal(t, 3*time.Second, r.recoveredAfter(10*time.Millisecond, 10))
	r.windows[50].failed = 1
	assert.Equal(t, 5100*time.Millisecond, r.recoveredAfter(10*time.Millisecond, 10))
}
