//go:build cgo && linux

package cmalloc

/*
#include <malloc.h>
#include <stdlib.h>

static int arenas_limited;

// Runs when the binary is loaded, before the Go runtime starts its threads:
// glibc fixes the arena limit the first time a thread needs a new arena, and
// every cgo thread start allocates, so a call from main would come too late.
__attribute__((constructor)) static void hookledger_limit_arenas(void) {
#ifdef M_ARENA_MAX
	const char *chosen = getenv("MALLOC_ARENA_MAX");
	if (chosen != NULL && chosen[0] != '\0') return;
	arenas_limited = mallopt(M_ARENA_MAX, 2) == 1;
#endif
}

static int limited(void) { return arenas_limited; }

static void trim(void) { malloc_trim(0); }
*/
import "C"

// Arenas is the number of glibc malloc arenas a process that links this
// package is capped at, unless the operator chose with MALLOC_ARENA_MAX.
const Arenas = 2

// Limited reports whether the cap was set when the process was loaded: false
// without glibc or when MALLOC_ARENA_MAX was set (an explicit choice wins).
func Limited() bool { return C.limited() == 1 }

// trim returns the free memory of every arena to the kernel (malloc_trim(0)
// also releases free pages inside the heap, not only at its top).
func trim() { C.trim() }
