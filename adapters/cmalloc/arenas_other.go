//go:build !cgo || !linux

package cmalloc

// Arenas is the cap the cgo build sets; without cgo on Linux nothing is set.
const Arenas = 2

// Limited is always false here: without cgo Pebble allocates from the Go heap,
// and off Linux the C library is not glibc.
func Limited() bool { return false }

// trim has nothing to do: without cgo Pebble's memory is the Go heap's, which
// the Go runtime returns to the kernel itself, and off Linux there is no
// glibc to trim.
func trim() {}
