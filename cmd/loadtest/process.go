package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"authz-gateway/app"
)

// startProcess serves the gateway from its binary in a process of its own
// (-gateway-bin), over the same database, Redis and secret as the
// in-process one that built the workload: the load generator then shares
// no Go runtime (scheduler, GC) with the gateway, as with the peers, which
// run in processes of their own. It returns the gateway's URL and how to
// stop it.
func startProcess(ctx context.Context, bin string, cfg app.Config) (url string, pid int, stop func(), err error) {
	port := freePort()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		"GATEWAY_ENV=production",
		"DATABASE_URL="+cfg.DatabaseURL,
		"JWT_SECRET="+cfg.JWTSecret,
		"ADMIN_EMAIL="+cfg.AdminEmail,
		"REDIS_URL="+cfg.Redis.URL,
		"CACHE_PREFIX="+cfg.CachePrefix,
		"CACHE_L1_BYTES="+strconv.FormatInt(cfg.L1Bytes, 10),
		"RATE_LIMIT="+strconv.Itoa(cfg.RateLimit.PerSecond),
		"RATE_LIMIT_BURST="+strconv.Itoa(cfg.RateLimit.Burst),
		"PORT="+strconv.Itoa(port),
		"LOG_LEVEL=warn",
	)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return "", 0, nil, fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop = func() {
		reportTiers(url)
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	url = fmt.Sprintf("http://127.0.0.1:%d", port)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/readyz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url, cmd.Process.Pid, stop, nil
			}
		}
		select {
		case <-exited:
			return "", 0, nil, fmt.Errorf("%s exited before it was ready", bin)
		default:
		}
		if time.Now().After(deadline) {
			stop()
			return "", 0, nil, fmt.Errorf("%s not ready after 30 s", bin)
		}
	}
}

// where says where the gateway serves.
func (g *gateway) where() string {
	if g.pid != 0 {
		return "its own process"
	}
	return "the tool's process"
}

// memory is the gateway's memory now: the resident set of its process, or,
// in the tool's process, the heap in use (the generator's included).
func (g *gateway) memory() uint64 {
	if g.pid == 0 {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", g.pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// memoryKind names what memory measures.
func (g *gateway) memoryKind() string {
	if g.pid != 0 {
		return "the gateway's RSS"
	}
	return "heap in use, gateway and generator"
}

// reportTiers prints, before the gateway process stops, how its lookups
// were answered (its L1, the store), from its /metrics: the in-process
// gateway's tiers are visible to the tool, this one's only there.
func reportTiers(url string) {
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		return
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return
	}
	for line := range strings.SplitSeq(string(body), "\n") {
		if strings.HasPrefix(line, "authz_cache_local_lookups_total") || strings.HasPrefix(line, "authz_cache_lookups_total{kind=\"permissions\"") {
			fmt.Fprintln(os.Stderr, "gateway process:", line)
		}
	}
}
