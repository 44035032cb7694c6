package cmalloc

import (
	"sync/atomic"
	"time"
)

// ReleaseEvery is the least time between two releases (see Release).
const ReleaseEvery = time.Second

// lastRelease is when Release last trimmed (unix nanoseconds). One per
// process, like the C heap it trims.
var lastRelease atomic.Int64

// Release gives the C heap's free memory back to the kernel, at most once per
// ReleaseEvery however often it is called (it reports whether it trimmed).
// The stores call it when a flush or a compaction ends: those free a memtable
// or a compaction's buffers, and glibc keeps freed memory inside its arenas
// (where later, smaller allocations fragment it) instead of unmapping it, so
// without a trim the resident memory creeps up with the history written, by
// ~20 MB from 250,000 to 1,000,000 messages (docs/benchmarks.md).
func Release() bool {
	now := time.Now().UnixNano()
	last := lastRelease.Load()
	if now-last < int64(ReleaseEvery) || !lastRelease.CompareAndSwap(last, now) {
		return false
	}
	trim()
	return true
}
