//go:build cgo && linux

package fsync

/*
#cgo LDFLAGS: -lpthread
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

// A request and its answer, 16 bytes each: under PIPE_BUF, so each is
// written to its pipe whole, never interleaved with another.
struct hl_fsync_req { int32_t fd; int32_t op; uint64_t token; };
struct hl_fsync_ans { uint64_t token; int32_t err; int32_t pad; };

struct hl_fsync_pipes { int req; int ans; };

// Each helper thread reads a request, makes the system call and writes the
// answer, until the request pipe is closed (never, while the process runs).
static void *hl_fsync_loop(void *arg) {
	struct hl_fsync_pipes p = *(struct hl_fsync_pipes *)arg;
	free(arg);
	struct hl_fsync_req r;
	for (;;) {
		ssize_t n = read(p.req, &r, sizeof r);
		if (n == 0) return NULL;
		if (n != (ssize_t)sizeof r) {
			if (n < 0 && errno == EINTR) continue;
			return NULL;
		}
		int rc;
		do {
			rc = r.op == 1 ? fdatasync(r.fd) : fsync(r.fd);
		} while (rc < 0 && errno == EINTR);
		struct hl_fsync_ans a = { r.token, rc < 0 ? errno : 0, 0 };
		while (write(p.ans, &a, sizeof a) < 0 && errno == EINTR) {}
	}
}

// Starts one helper thread with every signal blocked (it inherits the mask
// of the thread that creates it), so that signals for the process go to the
// Go runtime's threads. Returns 0 or an errno.
static int hl_fsync_start(int req, int ans) {
	struct hl_fsync_pipes *p = malloc(sizeof *p);
	if (p == NULL) return ENOMEM;
	p->req = req;
	p->ans = ans;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	pthread_t t;
	int rc = pthread_create(&t, NULL, hl_fsync_loop, p);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		free(p);
		return rc;
	}
	pthread_detach(t);
	return 0;
}
*/
import "C"

import (
	"encoding/binary"
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
)

// threads is how many syncs can be in flight at once: the ledger's log, its
// head mark, and the flushes and compactions of two stores.
const threads = 4

// errHelperLost answers the syncs in flight if the answer pipe ever fails:
// their outcome is unknown, so they are reported as failed (a store stops on
// a failed sync rather than acknowledge what may not be durable).
var errHelperLost = errors.New("fsync helper threads lost: outcome unknown")

// helper is the process's set of helper threads and their two pipes. There
// is one per process, started on first use: the threads are an operating
// system resource like the runtime's own, idle in a read when unused, and
// one set serves every store.
type helper struct {
	req      *os.File // Go writes requests (non-blocking, through the poller)
	ans      *os.File // Go reads answers (likewise)
	mu       sync.Mutex
	next     uint64
	waiting  map[uint64]chan error
	lost     bool
	answered atomic.Uint64
	// busy counts the syncs handed over and not yet answered: never more
	// than the threads started (size), so each request finds a thread free.
	busy atomic.Int32
	size int32
}

var (
	startOnce sync.Once
	shared    *helper // nil: the threads could not be started
)

// threadsFor returns the process's helper threads, started on first use, or
// nil if they could not be started.
func threadsFor() *helper {
	startOnce.Do(func() { shared = start() })
	return shared
}

func helped() uint64 {
	if h := threadsFor(); h != nil {
		return h.answered.Load()
	}
	return 0
}

// start makes the pipes and threads, or returns nil if it cannot (the
// callers then make their system calls themselves).
func start() *helper {
	var rq, an [2]int
	if syscall.Pipe2(rq[:], syscall.O_CLOEXEC) != nil {
		return nil
	}
	if syscall.Pipe2(an[:], syscall.O_CLOEXEC) != nil {
		closeAll(rq[0], rq[1])
		return nil
	}
	// The threads' ends block; Go's ends do not, so that os.NewFile gives
	// files the network poller waits on without holding a P.
	if syscall.SetNonblock(rq[1], true) != nil || syscall.SetNonblock(an[0], true) != nil {
		closeAll(rq[0], rq[1], an[0], an[1])
		return nil
	}
	started := 0
	for range threads {
		if C.hl_fsync_start(C.int(rq[0]), C.int(an[1])) == 0 {
			started++
		}
	}
	if started == 0 {
		closeAll(rq[0], rq[1], an[0], an[1])
		return nil
	}
	h := &helper{req: os.NewFile(uintptr(rq[1]), "fsync-requests"), ans: os.NewFile(uintptr(an[0]), "fsync-answers"),
		waiting: map[uint64]chan error{}, size: int32(started)}
	go h.answer()
	return h
}

func closeAll(fds ...int) {
	for _, fd := range fds {
		syscall.Close(fd)
	}
}

// do sends the request and parks until its answer comes back. With every
// thread taken, it makes the call itself: a sync never waits in the pipe
// behind others (a compaction's sync of a large table could take tens of
// milliseconds, and the ledger's log must not queue behind it), as with
// direct calls, where each goroutine has its own thread.
func (h *helper) do(fd uintptr, o op) error {
	if h.busy.Add(1) > h.size {
		h.busy.Add(-1)
		return direct(fd, o)
	}
	defer h.busy.Add(-1)
	ch := make(chan error, 1)
	var b [16]byte
	binary.NativeEndian.PutUint32(b[0:4], uint32(fd))
	binary.NativeEndian.PutUint32(b[4:8], uint32(o))
	h.mu.Lock()
	if h.lost {
		h.mu.Unlock()
		return direct(fd, o)
	}
	h.next++
	tok := h.next
	binary.NativeEndian.PutUint64(b[8:16], tok)
	h.waiting[tok] = ch
	_, err := h.req.Write(b[:])
	if err != nil {
		delete(h.waiting, tok)
	}
	h.mu.Unlock()
	if err != nil { // the request never reached a thread: do it here
		return direct(fd, o)
	}
	return <-ch
}

// answer hands each answer to the goroutine waiting for it.
func (h *helper) answer() {
	var b [16]byte
	for {
		if _, err := io.ReadFull(h.ans, b[:]); err != nil {
			h.mu.Lock()
			h.lost = true
			for tok, ch := range h.waiting {
				ch <- errHelperLost
				delete(h.waiting, tok)
			}
			h.mu.Unlock()
			return
		}
		tok := binary.NativeEndian.Uint64(b[0:8])
		var err error
		if e := int32(binary.NativeEndian.Uint32(b[8:12])); e != 0 {
			err = syscall.Errno(e)
		}
		h.mu.Lock()
		ch := h.waiting[tok]
		delete(h.waiting, tok)
		h.mu.Unlock()
		h.answered.Add(1)
		if ch != nil {
			ch <- err
		}
	}
}
