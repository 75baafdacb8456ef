package main

import (
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
	"strings"
	"time"

	"authz-gateway/access"
	"authz-gateway/internal/workload"
)

// The peer benchmark: the same workload, relationships and client shape
// against SpiceDB and OpenFGA (each in memory, over gRPC as their users
// call them; SpiceDB's HTTP API loads its data), every answer checked on
// every system. `make bench-peer` builds pinned binaries and runs it.

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
		"--log-level", "error", "--skip-release-check=true")
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

// relationship is one fact both peers store: the subject has the relation
// on the resource (spiceSchema and fgaModel name the same ones).
type relationship struct {
	resType  string
	resID    int
	relation string
	subType  string
	subID    int
}

// relationships are the workload's catalog and scopes as the peers'
// facts: every program on the one platform, every project in its program,
// and each scope a membership (GLOBAL: of the platform).
func relationships(d *workload.Data) []relationship {
	var rels []relationship
	for _, p := range d.Programs {
		rels = append(rels, relationship{"program", p, "platform", "platform", 1})
	}
	for _, pj := range d.Projects {
		rels = append(rels, relationship{"project", pj, "program", "program", d.ProgramOf[pj]})
	}
	for _, sc := range d.Scopes {
		switch sc.Type {
		case access.ScopeGlobal:
			rels = append(rels, relationship{"platform", 1, "global", "user", sc.User})
		case access.ScopeProgram:
			rels = append(rels, relationship{"program", sc.Target, "member", "user", sc.User})
		case access.ScopeProject:
			rels = append(rels, relationship{"project", sc.Target, "member", "user", sc.User})
		}
	}
	return rels
}

// load writes the workload's relationships, 500 per request.
func (s *spicedb) load(ctx context.Context, d *workload.Data) error {
	var updates []map[string]any
	for _, r := range relationships(d) {
		updates = append(updates, map[string]any{"operation": "OPERATION_TOUCH", "relationship": map[string]any{
			"resource": object(r.resType, r.resID), "relation": r.relation, "subject": map[string]any{"object": object(r.subType, r.subID)}}})
	}
	for start := 0; start < len(updates); start += 500 {
		batch := updates[start:min(start+500, len(updates))]
		if err := s.call(ctx, http.DefaultClient, "/v1/relationships/write", map[string]any{"updates": batch}, nil); err != nil {
			return fmt.Errorf("write relationships: %w", err)
		}
	}
	return nil
}

func object(typ string, id int) map[string]any {
	return map[string]any{"objectType": typ, "objectId": strconv.Itoa(id)}
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

// peer runs check and lookup on the gateway and on each peer (SpiceDB, and
// OpenFGA when its binary is given), one after another for each row, with
// the same clients and duration, and prints one table: each system's
// throughput, p50 and p99, and the gateway's ratios to the faster peer
// (throughput: higher is better; latency: lower is better).
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
	peers := []string{"SpiceDB"}
	var fga *openfga
	if o.peerFGA != "" {
		if fga, err = startOpenFGA(ctx, o.peerFGA); err != nil {
			return err
		}
		defer fga.stop()
		if err := fga.load(ctx, g.data); err != nil {
			return err
		}
		peers = append(peers, "OpenFGA")
	}
	fmt.Fprintf(out, "| op | clients | gateway req/s, p50, p99 |")
	for _, p := range peers {
		fmt.Fprintf(out, " %s req/s, p50, p99 |", p)
	}
	fmt.Fprintf(out, " gateway / faster peer: req/s, p50, p99 |\n|---|---:|---:|%s---:|\n", strings.Repeat("---:|", len(peers)))
	for _, op := range []string{"check", "lookup"} {
		o.op = op
		gt, err := g.target(ctx, o)
		if err != nil {
			return err
		}
		targets := map[string]*target{}
		if targets["SpiceDB"], err = s.grpcTarget(op, g.data); err != nil {
			return err
		}
		if fga != nil {
			if targets["OpenFGA"], err = fga.target(op, g.data); err != nil {
				return err
			}
		}
		for _, name := range peers {
			if err := warmUp(ctx, targets[name]); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
		for _, clients := range []int{1, o.clients} {
			gr := drive(ctx, gt, clients, o.duration)
			if gr.errors > 0 {
				return fmt.Errorf("gateway %s: %d errors (first: %v)", op, gr.errors, gr.firstErr)
			}
			fmt.Fprintf(out, "| %s | %d | %s |", op, clients, figures(gr))
			var best result
			for _, name := range peers {
				r := drive(ctx, targets[name], clients, o.duration)
				if r.errors > 0 {
					return fmt.Errorf("%s %s: %d errors (first: %v)", name, op, r.errors, r.firstErr)
				}
				fmt.Fprintf(out, " %s |", figures(r))
				if best.requests == 0 || r.rate() > best.rate() {
					best = r
				}
			}
			fmt.Fprintf(out, " %.2fx, %.2fx, %.2fx |\n", gr.rate()/best.rate(),
				gr.pct(0.50).Seconds()/best.pct(0.50).Seconds(), gr.pct(0.99).Seconds()/best.pct(0.99).Seconds())
		}
	}
	return nil
}

func figures(r result) string {
	return fmt.Sprintf("%.0f, %v, %v", r.rate(), r.pct(0.50), r.pct(0.99))
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
