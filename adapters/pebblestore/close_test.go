package pebblestore

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/hookledger/hookledger/adapters/pebblebg/pebblebgtest"
	"github.com/hookledger/hookledger/domain"
)

// TestCloseEndsWhenItsFlushFails: Close flushes the memtable so that a
// stopped ledger is all in checksummed tables. When the flush fails (a disk
// that takes no new files) Close must end with that error, not wait for
// Pebble's retries, and nothing is lost: the events are in the log, and the
// next open reads every one.
func TestCloseEndsWhenItsFlushFails(t *testing.T) {
	fs := &pebblebgtest.FS{FS: vfs.Default}
	dir := t.TempDir()
	s := openOn(t, dir, fs)
	ctx := context.Background()
	for i := range 20 {
		if _, err := s.Append(ctx, "s", domain.Any, numberedEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	fs.Refuse.Store(true)
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		if !errors.Is(err, pebblebgtest.ErrRefused) || !strings.Contains(err.Error(), "flush on close") {
			t.Fatalf("Close with a failing flush: %v; want the flush's error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close still waiting for a flush that cannot succeed after 10 s")
	}
	fs.Refuse.Store(false)
	r := openOn(t, dir, fs)
	defer r.Close()
	recs, err := r.ReadStream(ctx, "s", 0, domain.Forward, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 20 {
		t.Fatalf("after a close whose flush failed, %d events read back; want 20", len(recs))
	}
}

// TestCloseOfARemovedDirectoryEndsWithAnError: a data directory removed
// from under a running store. Pebble would treat the log file it cannot
// create as fatal and take the process down; Close says what happened
// instead.
func TestCloseOfARemovedDirectoryEndsWithAnError(t *testing.T) {
	dir := t.TempDir() + "/ledger"
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(context.Background(), "s", domain.Any, numberedEvent(0)); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Close of a store whose directory is gone: %v; want it said", err)
	}
}
