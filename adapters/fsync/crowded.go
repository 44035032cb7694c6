package fsync

import (
	"runtime"
	"runtime/metrics"
)

// do makes the system call through the helper threads when at least as
// many goroutines wait for a P as there are Ps, and directly otherwise.
//
// Why not always through the threads: handing a sync over costs two thread
// wake-ups (the helper's, and the Go thread the answer wakes) and the
// scheduler's spinning around them, about 0.1 ms of CPU per sync on the
// 2-core VM of docs/benchmarks.md. That pays only while the held P would
// have had work for its whole sync. With fewer runnable goroutines than Ps,
// the other Ps take them (they steal from the P in the system call too). On
// a quiet ledger (the latency scenario, 500 messages a second), handing
// every sync over cost 40% more CPU per delivery, and a threshold of one
// runnable goroutine 25% more; at GOMAXPROCS the CPU was as with direct
// syncs, and the busy scenarios kept their gain.
func do(fd uintptr, o op) error {
	if crowded() {
		if h := threadsFor(); h != nil {
			return h.do(fd, o)
		}
	}
	return direct(fd, o)
}

const runnableMetric = "/sched/goroutines/runnable:goroutines"

// crowded reports whether at least GOMAXPROCS goroutines are waiting for a
// P now (the runtime's approximate count, read under its scheduler lock:
// about a microsecond).
func crowded() bool {
	s := [1]metrics.Sample{{Name: runnableMetric}}
	metrics.Read(s[:])
	return s[0].Value.Kind() == metrics.KindUint64 && s[0].Value.Uint64() >= uint64(runtime.GOMAXPROCS(0))
}
