package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"
)

// target is what the clients do: send request i and check its answer (a
// wrong allow or deny is an error, not a success).
type target struct {
	send func(ctx context.Context, hc *http.Client, i int) error
	// before runs before request i, outside the measured time (cold tier).
	before func(ctx context.Context) error
	// connect, if set, gives each client its own connection (gRPC: one
	// per worker, as SpiceDB's users call it) and its send, which replaces
	// send; close releases the connection.
	connect func() (send func(ctx context.Context, i int) error, close func(), err error)
}

// graphQL is a target that posts GraphQL request i (body and token) to url
// and checks the answer with check (nil: any answer without errors).
func graphQL(url string, request func(i int) ([]byte, string), check func(i int, a answer) error) *target {
	return &target{send: func(ctx context.Context, hc *http.Client, i int) error {
		body, token := request(i)
		a, err := post(ctx, hc, url, body, token)
		if err != nil {
			return err
		}
		if check == nil {
			return noErrors(a)
		}
		return check(i, a)
	}}
}

// answer is a GraphQL response as the load tool reads it.
type answer struct {
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message    string
		Extensions struct{ Code string }
	} `json:"errors"`
}

func noErrors(a answer) error {
	if len(a.Errors) > 0 {
		return fmt.Errorf("graphql error: %s", a.Errors[0].Message)
	}
	return nil
}

// expectAllowed: an allowed check answers exactly want; a denied one is
// NOT_FOUND (the object is out of the asking viewer's reach).
func expectAllowed(allowed bool, want string) func(answer) error {
	return func(a answer) error {
		if !allowed {
			if len(a.Errors) == 1 && a.Errors[0].Extensions.Code == "NOT_FOUND" {
				return nil
			}
			return fmt.Errorf("wrong answer: want NOT_FOUND, got %s %+v", a.Data, a.Errors)
		}
		if err := noErrors(a); err != nil {
			return err
		}
		if !jsonEqual(a.Data, want) {
			return fmt.Errorf("wrong answer: want %s, got %s", want, a.Data)
		}
		return nil
	}
}

// expectData: exactly this data, no error.
func expectData(want string) func(answer) error {
	return func(a answer) error {
		if err := noErrors(a); err != nil {
			return err
		}
		if !jsonEqual(a.Data, want) {
			return fmt.Errorf("wrong answer: want %s, got %s", want, a.Data)
		}
		return nil
	}
}

// expectTotal: an accessors answer counting exactly n users.
func expectTotal(n int) func(answer) error {
	return func(a answer) error {
		if err := noErrors(a); err != nil {
			return err
		}
		var out struct {
			Node struct {
				Accessors struct{ TotalCount int }
			}
		}
		if err := json.Unmarshal(a.Data, &out); err != nil || out.Node.Accessors.TotalCount != n {
			return fmt.Errorf("wrong answer: want %d accessors, got %s", n, a.Data)
		}
		return nil
	}
}

// expectProjects: the accessible projects, exactly (n of them, each one
// reachable).
func expectProjects(n int, reachable func(int) bool) func(answer) error {
	return func(a answer) error {
		if err := noErrors(a); err != nil {
			return err
		}
		var out struct {
			Me struct{ AccessibleProjectIds []string }
		}
		if err := json.Unmarshal(a.Data, &out); err != nil {
			return err
		}
		got := map[string]bool{}
		for _, p := range out.Me.AccessibleProjectIds {
			id, err := strconv.Atoi(p)
			if err != nil || !reachable(id) {
				return fmt.Errorf("wrong answer: project %s", p)
			}
			got[p] = true
		}
		if len(got) != n {
			return fmt.Errorf("wrong answer: %d projects, want %d", len(got), n)
		}
		return nil
	}
}

// expectPage: a page of the accessible projects (up to size, each one
// reachable) and their number, n.
func expectPage(n, size int, reachable func(int) bool) func(answer) error {
	return func(a answer) error {
		if err := noErrors(a); err != nil {
			return err
		}
		var out struct {
			Me struct {
				AccessibleProjectConnection struct {
					TotalCount int
					Edges      []struct{ Node struct{ ID string } }
				}
			}
		}
		if err := json.Unmarshal(a.Data, &out); err != nil {
			return err
		}
		c := out.Me.AccessibleProjectConnection
		if c.TotalCount != n || len(c.Edges) != min(n, size) {
			return fmt.Errorf("wrong answer: %d of %d projects, want %d of %d", len(c.Edges), c.TotalCount, min(n, size), n)
		}
		for _, e := range c.Edges {
			if id, err := strconv.Atoi(e.Node.ID); err != nil || !reachable(id) {
				return fmt.Errorf("wrong answer: project %s", e.Node.ID)
			}
		}
		return nil
	}
}

func jsonEqual(raw json.RawMessage, want string) bool {
	var a, b any
	return json.Unmarshal(raw, &a) == nil && json.Unmarshal([]byte(want), &b) == nil && fmt.Sprint(a) == fmt.Sprint(b)
}

type result struct {
	requests, errors int
	firstErr         error
	elapsed          time.Duration
	latencies        []time.Duration
}

func (r result) rate() float64 { return float64(r.requests) / r.elapsed.Seconds() }

func (r result) p50() time.Duration { return r.pct(0.50) }

// pct is the latency below which the fraction p of requests finished.
func (r result) pct(p float64) time.Duration {
	return percentiles(r.latencies, p)[0].Round(time.Microsecond)
}

func (r result) String() string {
	if len(r.latencies) == 0 {
		return "requests=0"
	}
	q := percentiles(r.latencies, 0.50, 0.95, 0.99, 0.999)
	return fmt.Sprintf("requests=%d errors=%d rps=%.0f p50=%v p95=%v p99=%v p99.9=%v",
		r.requests, r.errors, float64(r.requests)/r.elapsed.Seconds(),
		q[0].Round(time.Microsecond), q[1].Round(time.Microsecond), q[2].Round(time.Microsecond), q[3].Round(time.Microsecond))
}

// percentiles returns, for each fraction p, the latency below which that
// fraction of latencies finished (0 when there are none), sorting a copy
// once for all of them.
func percentiles(latencies []time.Duration, ps ...float64) []time.Duration {
	sorted := slices.Clone(latencies)
	slices.Sort(sorted)
	out := make([]time.Duration, len(ps))
	for i, p := range ps {
		if len(sorted) > 0 {
			out[i] = sorted[int(p*float64(len(sorted)-1))]
		}
	}
	return out
}

// drive runs clients until d has passed and merges their measurements.
func drive(ctx context.Context, t *target, clients int, d time.Duration) result {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	transport := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
	defer transport.CloseIdleConnections()
	httpClient := &http.Client{Transport: transport, Timeout: 30 * time.Second}
	results := make([]result, clients)
	start := time.Now()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[c] = client(ctx, httpClient, t, c, clients)
		}()
	}
	wg.Wait()
	total := result{elapsed: time.Since(start)}
	for _, r := range results {
		total.requests += r.requests
		total.errors += r.errors
		if total.firstErr == nil {
			total.firstErr = r.firstErr
		}
		total.latencies = append(total.latencies, r.latencies...)
	}
	return total
}

func client(ctx context.Context, hc *http.Client, t *target, id, stride int) result {
	var r result
	send := func(ctx context.Context, i int) error { return t.send(ctx, hc, i) }
	if t.connect != nil {
		own, closeConn, err := t.connect()
		if err != nil {
			return result{errors: 1, firstErr: err}
		}
		defer closeConn()
		send = own
	}
	for i := id; ctx.Err() == nil; i += stride {
		if t.before != nil {
			if err := t.before(ctx); err != nil {
				break
			}
		}
		began := time.Now()
		err := send(ctx, i)
		if d, ok := ctx.Deadline(); ctx.Err() != nil || (ok && !time.Now().Before(d)) {
			// The run ended mid-request: not a measurement. (gRPC times
			// out on the deadline by its own timer, a little before the
			// context says so.)
			break
		}
		r.latencies = append(r.latencies, time.Since(began))
		r.requests++
		if err != nil {
			r.errors++
			if r.firstErr == nil {
				r.firstErr = err
			}
		}
	}
	return r
}

func post(ctx context.Context, hc *http.Client, u string, body []byte, token string) (answer, error) {
	var a answer
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return a, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return a, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return a, err
	}
	if resp.StatusCode != http.StatusOK {
		return a, statusError{code: resp.StatusCode, body: fmt.Sprintf("%.200s", raw)}
	}
	return a, json.Unmarshal(raw, &a)
}

// statusError is an HTTP answer other than 200 (429 when the gateway sheds).
type statusError struct {
	code int
	body string
}

func (e statusError) Error() string { return fmt.Sprintf("status %d: %s", e.code, e.body) }

// external measures a running gateway, which must be on loopback: the load
// never leaves this machine.
func external(o options) (*target, error) {
	u, err := url.Parse(o.url)
	if err != nil {
		return nil, err
	}
	switch u.Hostname() {
	case "localhost", "127.0.0.1", "::1":
	default:
		return nil, fmt.Errorf("-url must point at this machine (localhost, 127.0.0.1 or ::1)")
	}
	body, err := json.Marshal(map[string]any{"query": o.query})
	if err != nil {
		return nil, err
	}
	return graphQL(o.url, func(int) ([]byte, string) { return body, o.token }, nil), nil
}
