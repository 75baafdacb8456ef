package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// overload measures the gateway past its capacity, as production runs it
// (the rate limit on): the closed-loop rate of o.clients clients (its
// saturation), then an open loop that sends at twice that rate whatever
// the answers take, then one at half of it. It reports, per phase, what was
// answered, shed (429 RATE_LIMITED) or failed (timeouts, 503), the
// latencies, the gateway's peak memory, the generator's goroutines, and how long after
// the load dropped the p99 came back under twice the saturated p99.
func overload(ctx context.Context, g *gateway, o options, out io.Writer) error {
	t, err := g.target(ctx, o)
	if err != nil {
		return err
	}
	runtime.GC()
	saturated := drive(ctx, t, o.clients, o.duration)
	if saturated.requests == 0 {
		return fmt.Errorf("no request completed at saturation (first error: %v)", saturated.firstErr)
	}
	rate := saturated.rate()
	fmt.Fprintf(out, "overload: op=%s clients=%d gateway=%s saturation %s; memory before %d MiB\n",
		o.op, o.clients, g.where(), saturated, g.memory()>>20)
	fmt.Fprintf(out, "| phase | offered req/s | answered | shed (429) | failed | unsent (generator busy) | p50 | p99 | p99.9 | peak memory (%s) | peak goroutines (generator's process) |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n", g.memoryKind())
	// Up to 2,048 connections, more than the gateway serves at once
	// (MAX_IN_FLIGHT, 1,000), so that it is the gateway that decides what
	// waits and what is shed; a request due while all of them are busy is
	// not sent (openLoop counts it).
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: maxConns, MaxConnsPerHost: maxConns}, Timeout: 30 * time.Second}
	defer hc.CloseIdleConnections()
	over := openLoop(ctx, hc, t, 2*rate, o.duration, g.memory)
	fmt.Fprintf(out, "| 2x saturation | %.0f | %s |\n", 2*rate, over)
	under := openLoop(ctx, hc, t, rate/2, o.duration, g.memory)
	fmt.Fprintf(out, "| then 0.5x | %.0f | %s |\n", rate/2, under)
	bound := 2 * saturated.pct(0.99)
	fmt.Fprintf(out, "recovered %v after the load dropped (every later 1 s window's p99 <= %v, nothing failed; every later 100 ms window's: %v)\n",
		under.recoveredAfter(bound, 10), bound, under.recoveredAfter(bound, 1))
	fmt.Fprintf(out, "after the drop, p99 per second: %s\n", under.p99PerSecond())
	return nil
}

// p99PerSecond lists each second's p99, for where a recovery stalls.
func (r loopResult) p99PerSecond() string {
	var parts []string
	for start := 0; start < len(r.windows); start += 10 {
		var l []time.Duration
		for _, w := range r.windows[start:min(start+10, len(r.windows))] {
			l = append(l, w.latencies...)
		}
		if len(l) == 0 {
			continue
		}
		parts = append(parts, percentiles(l, 0.99)[0].Round(100*time.Microsecond).String())
	}
	return strings.Join(parts, ", ")
}

// maxConns is the open loop's connections (and requests in flight).
const maxConns = 2048

// loopResult is one open-loop phase: every request's outcome, by the
// 100 ms window it was sent in.
type loopResult struct {
	answered, shed, failed, unsent int
	firstFailure                   error
	latencies                      []time.Duration
	windows                        []window
	peakHeap                       uint64
	peakGoroutines                 int
}

type window struct {
	latencies []time.Duration
	failed    int
}

func (r loopResult) String() string {
	q := percentiles(r.latencies, 0.50, 0.99, 0.999)
	s := fmt.Sprintf("%d | %d | %d | %d | %v | %v | %v | %d MiB | %d", r.answered, r.shed, r.failed, r.unsent,
		q[0].Round(time.Microsecond), q[1].Round(time.Microsecond), q[2].Round(time.Microsecond), r.peakHeap>>20, r.peakGoroutines)
	if r.firstFailure != nil {
		s += fmt.Sprintf(" (first failure: %.120v)", r.firstFailure)
	}
	return s
}

// recoveredAfter is when, from the phase's start, every later span of
// `span` 100 ms windows (sliding by one window) kept its p99 within bound
// and failed nothing. A span of one window is the strictest measure, but
// at a few thousand requests a second a 100 ms window's p99 is its 4th
// slowest request: one GC pause or scheduler hiccup decides it. A span of
// ten (1 s, a few thousand requests) measures the latency the clients see.
func (r loopResult) recoveredAfter(bound time.Duration, span int) time.Duration {
	last := -1
	for i := range r.windows {
		var l []time.Duration
		failed := 0
		for _, w := range r.windows[i:min(i+span, len(r.windows))] {
			l = append(l, w.latencies...)
			failed += w.failed
		}
		if failed > 0 || (len(l) > 0 && percentiles(l, 0.99)[0] > bound) {
			last = i
		}
	}
	return time.Duration(last+1) * 100 * time.Millisecond
}

// openLoop sends at rate for d, each request on its own goroutine at its
// scheduled instant, however long the earlier ones take (a closed loop
// would slow down with the gateway and hide its queue), and waits for the
// last answer.
func openLoop(ctx context.Context, hc *http.Client, t *target, rate float64, d time.Duration, memory func() uint64) loopResult {
	interval := time.Duration(float64(time.Second) / rate)
	n := int(d / interval)
	res := loopResult{windows: make([]window, int(d/(100*time.Millisecond))+1)}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var sampling atomic.Bool
	sampling.Store(true)
	sampled := make(chan struct{})
	go func() { // the gateway's memory and the goroutines, every 50 ms
		defer close(sampled)
		for sampling.Load() {
			m := memory()
			mu.Lock()
			res.peakHeap = max(res.peakHeap, m)
			res.peakGoroutines = max(res.peakGoroutines, runtime.NumGoroutine())
			mu.Unlock()
			time.Sleep(50 * time.Millisecond)
		}
	}()
	// The generator holds at most as many requests as it has connections:
	// one due while all are busy is not sent and counted (unsent), so that
	// the generator's own backlog, in the gateway's process, neither
	// grows without bound nor is measured as the gateway's.
	inFlight := make(chan struct{}, maxConns)
	start := time.Now()
	for i := range n {
		due := start.Add(time.Duration(i) * interval)
		if wait := time.Until(due); wait > 0 {
			time.Sleep(wait)
		}
		select {
		case inFlight <- struct{}{}:
		default:
			mu.Lock()
			res.unsent++
			mu.Unlock()
			continue
		}
		wg.Add(1)
		go func() {
			defer func() { <-inFlight }()
			defer wg.Done()
			began := time.Now()
			err := t.send(ctx, hc, i)
			took := time.Since(began)
			var status statusError
			mu.Lock()
			defer mu.Unlock()
			w := &res.windows[min(int(due.Sub(start)/(100*time.Millisecond)), len(res.windows)-1)]
			switch {
			case err == nil:
				res.answered++
				res.latencies = append(res.latencies, took)
				w.latencies = append(w.latencies, took)
			case errors.As(err, &status) && status.code == http.StatusTooManyRequests:
				res.shed++
			default:
				res.failed++
				w.failed++
				if res.firstFailure == nil {
					res.firstFailure = err
				}
			}
		}()
	}
	wg.Wait()
	sampling.Store(false)
	<-sampled
	return res
}
