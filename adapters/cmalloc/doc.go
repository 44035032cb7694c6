// Package cmalloc tunes the C allocator the process shares with Pebble.
//
// Pebble allocates its block caches and memtables with C malloc (through cgo),
// from whichever OS thread the Go scheduler runs it on. glibc gives each
// thread that finds the allocator busy an arena of its own (up to 8 per core),
// and memory freed into one arena is rarely given back to the kernel: the
// ledger's resident memory then grows tens of megabytes past what Pebble holds
// (measured in docs/benchmarks.md). Two arenas on the machines we run on
// remove that growth without measurable contention.
package cmalloc
