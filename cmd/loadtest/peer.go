package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"time"

	"authz-gateway/access"
	"authz-gateway/internal/workload"
)

// The peer benchmark: the same workload, relationships and client shape
// against SpiceDB (in memory, over gRPC as its users call it, and through
// its HTTP API, labelled), every answer checked on every system.
// `make bench-peer` builds a pinned SpiceDB and runs it.

// spiceSchema models the gateway's project reach: a project is readable
// through a PROJECT scope on it, a PROGRAM scope on its program, or GLOBAL.
// (Every role of the workload holds PROJECT_READ, so roles add nothing.)
const spiceSchema = `
definition user {}
definition platform {
	relation global: user
}
definition program {
	relation platform: platform
	relation member: user
	permission reach = member + platform->global
}
definition project {
	relation program: program
	relation member: user
	permission read = member + program->reach
}`

type spicedb struct {
	url, grpcAddr, key string
	cmd                *exec.Cmd
}

// startSpiceDB runs the binary at bin with an in-memory datastore on free
// loopback ports and waits until its HTTP API answers.
func startSpiceDB(ctx context.Context, bin string) (*spicedb, error) {
	httpPort, grpcPort, err := freePort(), freePort(), error(nil)
	s := &spicedb{url: fmt.Sprintf("http://127.0.0.1:%d", httpPort), grpcAddr: fmt.Sprintf("127.0.0.1:%d", grpcPort), key: "bench-peer-key"}
	s.cmd = exec.CommandContext(ctx, bin, "serve", "--grpc-preshared-key", s.key,
		"--datastore-engine", "memory", "--http-enabled", "--http-addr", fmt.Sprintf("127.0.0.1:%d", httpPort),
		"--grpc-addr", fmt.Sprintf("127.0.0.1:%d", grpcPort), "--metrics-enabled=false", "--telemetry-endpoint", "",
		"--log-level", "warn", "--skip-release-check=true")
	s.cmd.Stderr = os.Stderr
	if err = s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start spicedb: %w", err)
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if err = s.call(ctx, http.DefaultClient, "/v1/schema/write", map[string]any{"schema": spiceSchema}, nil); err == nil {
			return s, nil
		}
	}
	s.stop()
	return nil, fmt.Errorf("spicedb did not become ready: %w", err)
}

func (s *spicedb) stop() {
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
}

// load writes the workload's relationships, 500 per request.
func (s *spicedb) load(ctx context.Context, d *workload.Data) error {
	var rels []map[string]any
	rel := func(resType string, resID int, relation, subType string, subID int) {
		rels = append(rels, map[string]any{"operation": "OPERATION_TOUCH", "relationship": map[string]any{
			"resource": object(resType, resID), "relation": relation, "subject": map[string]any{"object": object(subType, subID)}}})
	}
	for _, p := range d.Programs {
		rel("program", p, "platform", "platform", 1)
	}
	for _, pj := range d.Projects {
		rel("project", pj, "program", "program", d.ProgramOf[pj])
	}
	for _, sc := range d.Scopes {
		switch sc.Type {
		case access.ScopeGlobal:
			rel("platform", 1, "global", "user", sc.User)
		case access.ScopeProgram:
			rel("program", sc.Target, "member", "user", sc.User)
		case access.ScopeProject:
			rel("project", sc.Target, "member", "user", sc.User)
		}
	}
	for start := 0; start < len(rels); start += 500 {
		batch := rels[start:min(start+500, len(rels))]
		if err := s.call(ctx, http.DefaultClient, "/v1/relationships/write", map[string]any{"updates": batch}, nil); err != nil {
			return fmt.Errorf("write relationships: %w", err)
		}
	}
	return nil
}

func object(typ string, id int) map[string]any {
	return map[string]any{"objectType": typ, "objectId": strconv.Itoa(id)}
}

// target returns the check or lookup requests of the workload's pairs.
func (s *spicedb) target(op string, d *workload.Data) (*target, error) {
	pairs := d.CheckPairs(256)
	consistency := map[string]any{"minimizeLatency": true}
	switch op {
	case "check":
		return &target{send: func(ctx context.Context, hc *http.Client, i int) error {
			p := pairs[i%len(pairs)]
			var out struct{ Permissionship string }
			err := s.call(ctx, hc, "/v1/permissions/check", map[string]any{"consistency": consistency,
				"resource": object("project", p[1]), "permission": "read",
				"subject": map[string]any{"object": object("user", p[0])}}, &out)
			if err != nil {
				return err
			}
			if got, want := out.Permissionship == "PERMISSIONSHIP_HAS_PERMISSION", d.Allowed(p[0], p[1]); got != want {
				return fmt.Errorf("wrong answer: user %d project %d: %s", p[0], p[1], out.Permissionship)
			}
			return nil
		}}, nil
	case "lookup":
		return &target{send: func(ctx context.Context, hc *http.Client, i int) error {
			user := pairs[i%len(pairs)][0]
			ids, err := s.lookup(ctx, hc, user, consistency)
			if err != nil {
				return err
			}
			n, reachable := d.Reachable(user)
			if len(ids) != n {
				return fmt.Errorf("wrong answer: user %d: %d projects, want %d", user, len(ids), n)
			}
			for _, id := range ids {
				if !reachable(id) {
					return fmt.Errorf("wrong answer: user %d: project %d", user, id)
				}
			}
			return nil
		}}, nil
	}
	return nil, fmt.Errorf("the peer benchmark runs check and lookup, not %q", op)
}

// lookup streams LookupResources: one JSON object per line.
func (s *spicedb) lookup(ctx context.Context, hc *http.Client, user int, consistency any) ([]int, error) {
	resp, err := s.post(ctx, hc, "/v1/permissions/resources", map[string]any{"consistency": consistency,
		"resourceObjectType": "project", "permission": "read", "subject": map[string]any{"object": object("user", user)}})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var ids []int
	lines := bufio.NewScanner(resp.Body)
	lines.Buffer(make([]byte, 64<<10), 1<<20)
	for lines.Scan() {
		var line struct {
			Result struct{ ResourceObjectID string } `json:"result"`
		}
		if err := json.Unmarshal(lines.Bytes(), &line); err != nil {
			return nil, err
		}
		id, err := strconv.Atoi(line.Result.ResourceObjectID)
		if err != nil {
			return nil, fmt.Errorf("lookup line %q: %w", lines.Text(), err)
		}
		ids = append(ids, id)
	}
	return ids, lines.Err()
}

func (s *spicedb) call(ctx context.Context, hc *http.Client, path string, body, out any) error {
	resp, err := s.post(ctx, hc, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func (s *spicedb) post(ctx context.Context, hc *http.Client, path string, body any) (*http.Response, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url+path, bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+s.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		resp.Body.Close()
		return nil, fmt.Errorf("spicedb %s: status %d: %s", path, resp.StatusCode, msg)
	}
	return resp, nil
}

// peer runs check and lookup on the gateway and on SpiceDB, alternately,
// with the same clients and duration, and prints one table with ratios.
func peer(ctx context.Context, o options, out io.Writer) error {
	g, err := startGateway(ctx, o)
	if err != nil {
		return err
	}
	defer g.cleanup()
	s, err := startSpiceDB(ctx, o.peer)
	if err != nil {
		return err
	}
	defer s.stop()
	if err := s.load(ctx, g.data); err != nil {
		return err
	}
	fmt.Fprintf(out, "| op | clients | gateway req/s | gateway p50 | SpiceDB gRPC req/s | SpiceDB gRPC p50 | gateway / gRPC | SpiceDB HTTP req/s | gateway / HTTP |\n"+
		"|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, op := range []string{"check", "lookup"} {
		o.op = op
		gt, err := g.target(ctx, o)
		if err != nil {
			return err
		}
		grpcT, err := s.grpcTarget(op, g.data)
		if err != nil {
			return err
		}
		httpT, err := s.target(op, g.data)
		if err != nil {
			return err
		}
		for _, t := range []*target{grpcT, httpT} {
			if err := warmUp(ctx, t); err != nil {
				return fmt.Errorf("spicedb: %w", err)
			}
		}
		for _, clients := range []int{1, o.clients} {
			gr := drive(ctx, gt, clients, o.duration)
			sg := drive(ctx, grpcT, clients, o.duration)
			sh := drive(ctx, httpT, clients, o.duration)
			for name, r := range map[string]result{"gateway": gr, "SpiceDB gRPC": sg, "SpiceDB HTTP": sh} {
				if r.errors > 0 {
					return fmt.Errorf("%s %s: %d errors (first: %v)", name, op, r.errors, r.firstErr)
				}
			}
			fmt.Fprintf(out, "| %s | %d | %.0f | %v | %.0f | %v | %.2fx | %.0f | %.2fx |\n", op, clients,
				gr.rate(), gr.p50(), sg.rate(), sg.p50(), gr.rate()/sg.rate(), sh.rate(), gr.rate()/sh.rate())
		}
	}
	return nil
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
