package app

import (
	"log/slog"
	"runtime/debug"
)

// memoryHeadroom is what the memory limit leaves beside the L1: the
// gateway's own live heap under load (about 30 MB on the benchmark
// workload) with room to spare, so the collector does not run back to back.
const memoryHeadroom = 128 << 20

// MemoryLimit is the Go memory limit the gateway runs under when the
// operator sets none (GOMEMLIMIT): the L1's bound plus memoryHeadroom, or
// 0 (none) without an L1. Without a limit the collector lets the heap grow
// to twice what is live (GOGC=100), so an L1 of CACHE_L1_BYTES cost about
// twice that in memory; under the limit it costs about what it says.
func (c Config) MemoryLimit() int64 {
	if !c.l1() {
		return 0
	}
	return c.L1Bytes + memoryHeadroom
}

// ApplyMemoryLimit sets cfg's MemoryLimit unless the environment's
// GOMEMLIMIT (which the Go runtime applies itself) says otherwise.
func ApplyMemoryLimit(cfg Config, getenv func(string) string) {
	limit := cfg.MemoryLimit()
	if getenv("GOMEMLIMIT") != "" || limit == 0 {
		return
	}
	debug.SetMemoryLimit(limit)
	slog.Info("memory limit set from CACHE_L1_BYTES", "bytes", limit)
}
