package testenv

import (
	"authz-gateway/internal/scratch"
	"authz-gateway/redisconn"
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisAddr is the shared Redis of the test run (TEST_REDIS_ADDR, default the
// machine's 127.0.0.1:6379). Tests isolate themselves with a key prefix.
func RedisAddr() string {
	if a := os.Getenv("TEST_REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// RedisDB is the database the tests use on the shared Redis: TEST_REDIS_DB,
// default 15, so a test run never writes to a shared server's database 0,
// where its owner's data usually is.
func RedisDB() int {
	if d, err := strconv.Atoi(os.Getenv("TEST_REDIS_DB")); err == nil && d >= 0 {
		return d
	}
	return 15
}

// RedisURL is the shared Redis's address and database as a REDIS_URL.
func RedisURL() string { return fmt.Sprintf("redis://%s/%d", RedisAddr(), RedisDB()) }

// Redis returns a client of the shared Redis and a key prefix unique to t;
// the prefix's keys are deleted when t ends.
func Redis(t testing.TB) (redis.UniversalClient, string) {
	t.Helper()
	client := newClient(t, RedisURL())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		t.Fatalf("testenv: Redis at %s is not reachable (run `make test`, which starts one): %v", RedisURL(), err)
	}
	prefix := "authzgw-test:" + scratch.Suffix() + ":"
	t.Cleanup(func() {
		scratch.DeletePrefix(context.Background(), client, prefix)
		_ = client.Close()
	})
	return client, prefix
}

// NewRedisClient returns a client of the Redis at addr (a test's own
// server) built like the gateway's (the same fail-fast timeouts and retries).
func NewRedisClient(t testing.TB, addr string) redis.UniversalClient {
	t.Helper()
	return newClient(t, "redis://"+addr)
}

func newClient(t testing.TB, url string) redis.UniversalClient {
	t.Helper()
	client, err := redisconn.NewClient(redisconn.Options{URL: url})
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return client
}

// RedisServer is a redis-server process owned by one test, for fault tests:
// only this process is ever stopped, frozen or killed, by its PID.
type RedisServer struct {
	Addr string
	cmd  *exec.Cmd
	args []string
}

// StartRedis starts a private redis-server on a free loopback port, with
// extra arguments if any. It is killed when t ends.
func StartRedis(t testing.TB, extra ...string) *RedisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("testenv: redis-server not installed (run `make test`, which installs it): %v", err)
	}
	port := freePort(t)
	for slices.Contains(extra, "--cluster-enabled") && port > 55535 {
		port = freePort(t) // a cluster node's bus port is its port + 10000
	}
	dir := t.TempDir()
	args := []string{bin}
	persistence := []string{"--save", "", "--appendonly", "no"}
	if len(extra) > 0 && extra[0] == "--sentinel" {
		// A sentinel reads (and rewrites) a configuration file of its own,
		// and has no persistence settings.
		conf := filepath.Join(dir, "sentinel.conf")
		if err := os.WriteFile(conf, []byte(extra[1]), 0o600); err != nil {
			t.Fatalf("testenv: %v", err)
		}
		args, extra, persistence = append(args, conf, "--sentinel"), extra[2:], nil
	}
	args = append(args, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir, "--logfile", filepath.Join(dir, "redis.log"))
	args = append(args, persistence...)
	s := &RedisServer{Addr: fmt.Sprintf("127.0.0.1:%d", port), args: append(args, extra...)}
	s.start(t)
	t.Cleanup(s.Kill)
	return s
}

func (s *RedisServer) start(t testing.TB) {
	t.Helper()
	s.cmd = exec.Command(s.args[0], s.args[1:]...)
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("testenv: start redis-server: %v", err)
	}
	s.waitReady(t)
}

// Restart kills the process (SIGKILL) and starts it again on the same port
// and directory: it comes back with the last snapshot (SAVE), as a Redis
// with RDB persistence does after a crash.
func (s *RedisServer) Restart(t testing.TB) {
	t.Helper()
	s.Kill()
	s.start(t)
}

// RestartEmpty kills the process and starts it again without its last
// snapshot: a Redis without persistence after a crash.
func (s *RedisServer) RestartEmpty(t testing.TB) {
	t.Helper()
	s.Kill()
	for i, a := range s.args {
		if a == "--dir" && i+1 < len(s.args) {
			_ = os.Remove(filepath.Join(s.args[i+1], "dump.rdb"))
		}
	}
	s.start(t)
}

func (s *RedisServer) waitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		conn, err := net.DialTimeout("tcp", s.Addr, 100*time.Millisecond)
		if err == nil {
			_, _ = conn.Write([]byte("PING\r\n"))
			_ = conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			line, _ := bufio.NewReader(conn).ReadString('\n')
			_ = conn.Close()
			if line == "+PONG\r\n" {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("testenv: redis-server on %s did not become ready", s.Addr)
}

// Freeze stops the process (SIGSTOP): connections stay open, nothing answers.
func (s *RedisServer) Freeze() error { return s.cmd.Process.Signal(syscall.SIGSTOP) }

// Thaw resumes a frozen process (SIGCONT) with its data intact.
func (s *RedisServer) Thaw() error { return s.cmd.Process.Signal(syscall.SIGCONT) }

// Kill ends the process (SIGKILL) and reaps it.
func (s *RedisServer) Kill() {
	if s.cmd.ProcessState != nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGCONT)
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// QuietLogs discards log output until t ends: benchmark output must stay
// parseable by benchstat, and outage warnings are expected there.
func QuietLogs(t testing.TB) {
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	redisconn.SilenceLogs()
	t.Cleanup(func() { slog.SetDefault(prev) })
}
