//go:build cgo && linux

package fsync

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

// Many syncs in flight at once through the helper threads, some failing:
// each caller gets its own answer, not another's.
func TestConcurrentSyncsGetTheirOwnAnswers(t *testing.T) {
	h := threadsFor()
	if h == nil {
		t.Fatal("the helper threads did not start")
	}
	dir := t.TempDir()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	// As many callers as threads: none is ever turned away to a direct call.
	goroutines, each := int(h.size), 100
	before := helped()
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := os.Create(filepath.Join(dir, fmt.Sprint("f", g)))
			if err != nil {
				errs <- err
				return
			}
			defer f.Close()
			for i := range each {
				if g%2 == 0 {
					f.WriteString("x")
					if err := h.do(f.Fd(), opSyncData); err != nil {
						errs <- fmt.Errorf("file %d, sync %d: %v", g, i, err)
						return
					}
				} else if err := h.do(w.Fd(), opSync); err != syscall.EINVAL {
					errs <- fmt.Errorf("a pipe's sync %d answered %v, want EINVAL", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := helped() - before; got != uint64(goroutines*each) {
		t.Fatalf("the helper answered %d syncs, want %d", got, goroutines*each)
	}
}

// With every helper thread taken, a sync is made by its own goroutine
// rather than queued behind the others.
func TestASyncDoesNotQueueBehindBusyThreads(t *testing.T) {
	h := threadsFor()
	if h == nil {
		t.Fatal("the helper threads did not start")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	h.busy.Add(h.size) // as if every thread were in a long sync
	before := helped()
	err = h.do(w.Fd(), opSync)
	h.busy.Add(-h.size)
	if err != syscall.EINVAL {
		t.Fatalf("a pipe's sync answered %v, want EINVAL", err)
	}
	if got := helped() - before; got != 0 {
		t.Fatalf("the helper answered %d syncs while every thread was taken, want 0", got)
	}
	if err := h.do(w.Fd(), opSync); err != syscall.EINVAL || helped()-before != 1 {
		t.Fatalf("with threads free: %v, %d answered by the helper; want EINVAL, 1", err, helped()-before)
	}
}
