// Package fsync makes files durable without holding one of the Go
// scheduler's Ps while the disk works. It is an adapter of the operating
// system for the stores (the ledger, its head mark, the view store); it
// knows nothing of the domain.
//
// Why: a goroutine in a blocking system call keeps its P (the scheduler's
// slot for running Go code) until the runtime's monitor notices and hands it
// to another thread. The monitor backs off to 10 ms between looks when it has
// had nothing to take back, and a busy ledger makes thousands of short system
// calls (socket reads and writes) for each fsync, so it is usually backed
// off: an fdatasync of the ledger's log (0.2-1 ms here) kept one of the two
// Ps of a 2-core machine for its whole length. An execution trace of the
// throughput bench found the log's syncs holding a P for 11% of the run
// (307 ms of 2.8 P-seconds), and the head mark's for 1.5% more, while 70-100
// goroutines were waiting to run (docs/benchmarks.md, fifteenth session).
//
// How: while at least as many goroutines wait to run as there are Ps, Sync
// and SyncData hand the call to a few threads started in C, which the Go
// scheduler does not own, and park the goroutine until the answer comes back
// through a pipe the runtime's network poller watches. Parked, the goroutine
// holds no P, and the other goroutines run while the disk syncs. Otherwise
// (a quiet process) the call is made directly: handing it over costs thread
// wake-ups that only pay when the P would have had work (crowded.go). With
// every helper thread taken, a sync is made directly too, so that none waits
// in the pipe behind a long one.
// The file is held open for the whole call (syscall.RawConn.Control), so its
// descriptor cannot be closed and reused under the sync. What is synced, and
// when the call returns, is exactly as with the direct system call: the
// answer is the system call's own.
//
// Without cgo, off Linux, or when the threads cannot be started, every call
// is the direct system call.
package fsync
