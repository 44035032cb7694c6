//go:build !cgo || !linux

package cmalloc

// Arenas is the cap the cgo build sets; without cgo on Linux nothing is set.
const Arenas = 2

// Limited is always false here: without cgo Pebble allocates from the Go heap,
// and off Linux the C library is not glibc.
func Limited() bool { return false }
