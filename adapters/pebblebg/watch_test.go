package pebblebg

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/hookledger/hookledger/adapters/pebblebg/pebblebgtest"
)

type logged struct {
	err      error
	unlogged int
}

// TestReportLogsOneLineForManyRepeats: the errors of one failure, reported
// thousands of times a second, are logged once per interval
// (logging.Repeats, whose own tests cover the count after the interval).
func TestReportLogsOneLineForManyRepeats(t *testing.T) {
	var lines []logged
	w := New(func(err error, unlogged int) { lines = append(lines, logged{err, unlogged}) }, time.Hour)
	first := errors.New("creating object 000049: no such file or directory")
	w.Report(first)
	for i := range 1000 {
		w.Report(fmt.Errorf("creating object %06d: no such file or directory", 50+i))
	}
	if len(lines) != 1 || lines[0].err != first || lines[0].unlogged != 0 {
		t.Fatalf("1,001 reports logged %d lines (%+v); want the first alone", len(lines), lines)
	}
	if got := w.Reports(); got != 1001 {
		t.Fatalf("Reports = %d, want 1001", got)
	}
}

func openDB(t *testing.T, fs vfs.FS, w *Watch) *pebble.DB {
	t.Helper()
	db, err := pebble.Open("db", &pebble.Options{
		FS:            fs,
		DisableWAL:    true, // as the view store: the memtable is all there is to flush
		EventListener: &pebble.EventListener{BackgroundError: w.Report},
		Logger:        quiet{},
	})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

type quiet struct{}

func (quiet) Infof(string, ...any)         {}
func (quiet) Errorf(string, ...any)        {}
func (quiet) Fatalf(f string, args ...any) { panic(f) }

// flushWithin runs w.Flush(db) and fails the test if it has not returned
// within d (Pebble's own Flush never returns while the flush fails).
func flushWithin(t *testing.T, w *Watch, db *pebble.DB, d time.Duration) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- w.Flush(db) }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("Flush still waiting after %v", d)
		return nil
	}
}

func TestFlushWritesTheMemtable(t *testing.T) {
	fs := &pebblebgtest.FS{FS: vfs.NewMem()}
	w := New(func(error, int) {}, 0)
	db := openDB(t, fs, w)
	defer db.Close()
	if err := db.Set([]byte("k"), []byte("v"), pebble.NoSync); err != nil {
		t.Fatal(err)
	}
	if err := flushWithin(t, w, db, 10*time.Second); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if n := db.Metrics().Levels[0].TablesCount; n != 1 {
		t.Fatalf("after Flush, %d tables in L0; want the memtable written as one", n)
	}
}

func TestFlushReturnsTheErrorOfAFlushThatFails(t *testing.T) {
	fs := &pebblebgtest.FS{FS: vfs.NewMem()}
	var logs atomic.Int64
	w := New(func(error, int) { logs.Add(1) }, time.Hour)
	db := openDB(t, fs, w)
	if err := db.Set([]byte("k"), []byte("v"), pebble.NoSync); err != nil {
		t.Fatal(err)
	}
	fs.Refuse.Store(true)
	err := flushWithin(t, w, db, 10*time.Second)
	if !errors.Is(err, pebblebgtest.ErrRefused) {
		t.Fatalf("Flush of a store that cannot create tables: %v; want the refusal", err)
	}
	// Pebble goes on retrying until the store closes; each failure is
	// reported, one line logged.
	deadline := time.Now().Add(10 * time.Second)
	for fs.Refused.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if r := w.Reports(); r < 2 || logs.Load() != 1 {
		t.Fatalf("%d reports logged as %d lines; want several reports, one line", r, logs.Load())
	}
	fs.Refuse.Store(false) // the disk comes back: the retries succeed, and the store closes
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}
