package pebblestore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/hookledger/hookledger/domain"
)

// walFS calls before ahead of every sync of a WAL file; the sync fails with
// its error, if any.
type walFS struct {
	vfs.FS
	before func() error
}

func (f *walFS) Create(name string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	file, err := f.FS.Create(name, cat)
	if err != nil || !strings.HasSuffix(name, ".log") {
		return file, err
	}
	return &walFile{File: file, before: f.before}, nil
}

func (f *walFS) ReuseForWrite(oldname, newname string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	file, err := f.FS.ReuseForWrite(oldname, newname, cat)
	if err != nil || !strings.HasSuffix(newname, ".log") {
		return file, err
	}
	return &walFile{File: file, before: f.before}, nil
}

type walFile struct {
	vfs.File
	before func() error
}

func (f *walFile) Sync() error {
	if err := f.before(); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f *walFile) SyncData() error {
	if err := f.before(); err != nil {
		return err
	}
	return f.File.SyncData()
}

func (f *walFile) SyncTo(length int64) (bool, error) {
	if err := f.before(); err != nil {
		return false, err
	}
	return f.File.SyncTo(length)
}

var errInjectedSync = errors.New("injected: WAL sync failed")

// openOn opens a store in dir on fs.
func openOn(t *testing.T, dir string, fs vfs.FS) *Store {
	t.Helper()
	s, err := Open(dir, Options{fs: fs})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// numberedEvent is an event whose id is made from i.
func numberedEvent(i int) domain.EventData {
	return domain.EventData{ID: domain.FormatUUID(fmt.Appendf(nil, "%016d", i)), Type: "t", Data: []byte(`{}`)}
}

// TestNothingIsAcknowledgedAfterAFailedSync: the committer decides the next
// turn while one syncs; when a sync fails, no append of that turn or of the
// one behind it is acknowledged, the head and the readers stay where the
// last good sync left them, and the store refuses appends from then on.
func TestNothingIsAcknowledgedAfterAFailedSync(t *testing.T) {
	var failing atomic.Bool // every WAL sync fails while set
	fs := &walFS{FS: vfs.Default, before: func() error {
		if failing.Load() {
			return errInjectedSync
		}
		return nil
	}}
	dir := t.TempDir()
	s := openOn(t, dir, fs)
	defer s.Close()
	ctx := context.Background()
	// Many writers at once, so that several turns are in flight.
	const writers, each = 32, 50
	var acked atomic.Int64
	append := func(base int, stop *atomic.Bool) {
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					_, err := s.Append(ctx, fmt.Sprintf("s-%d-%d", base, w), domain.Any, numberedEvent(base+w*each+i))
					if err == nil {
						if stop.Load() {
							t.Errorf("an append was acknowledged after a sync failed")
						}
						acked.Add(1)
					} else if !errors.Is(err, domain.ErrUnavailable) {
						t.Errorf("append after a failed sync: %v, want ErrUnavailable", err)
					}
				}
			}()
		}
		wg.Wait()
	}
	var never atomic.Bool
	append(0, &never)
	if got := acked.Load(); got != writers*each {
		t.Fatalf("%d of %d appends acknowledged before the fault", got, writers*each)
	}
	head, _ := s.Head(ctx)

	failing.Store(true)
	var armed atomic.Bool
	armed.Store(true)
	append(1_000_000, &armed)
	if after, _ := s.Head(ctx); after != head {
		t.Fatalf("head moved from %d to %d after a failed sync", head, after)
	}
	if evs, err := s.ReadAll(ctx, 0, 10*writers*each); err != nil || len(evs) != int(head) {
		t.Fatalf("readers see %d events (%v), want the %d synced", len(evs), err, head)
	}
	failing.Store(false) // the disk is back: the store still refuses until a restart
	if _, err := s.Append(ctx, "later", domain.Any, numberedEvent(9)); !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("append after the fault cleared: %v, want ErrUnavailable", err)
	}
	s.Close()

	// After a restart the ledger holds every acknowledged event, with no
	// hole: what the failed turn wrote before its sync failed may be there
	// (its appends were told the outcome is unknown), nothing after a gap.
	s = openOn(t, dir, vfs.Default)
	defer s.Close()
	evs, err := s.ReadAll(ctx, 0, 10*writers*each)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range evs {
		if e.Position != domain.Position(i+1) {
			t.Fatalf("event %d at position %d: a hole", i, e.Position)
		}
	}
	if uint64(len(evs)) < uint64(head) {
		t.Fatalf("%d events after the restart, %d were acknowledged", len(evs), head)
	}
}

// TestATurnIsWrittenWhileTheOneBeforeSyncs: while one turn's sync is in
// progress, the next turn is already in Pebble (so Pebble's log writer can
// sync it the moment the first sync returns, without waiting for a goroutine
// of ours to run), yet neither is acknowledged or readable until its own
// sync has returned, and they are acknowledged in order.
func TestATurnIsWrittenWhileTheOneBeforeSyncs(t *testing.T) {
	// The first WAL sync after held is set says it has started (entered)
	// and waits until the test releases it.
	var held atomic.Bool
	entered, release := make(chan struct{}), make(chan struct{})
	fs := &walFS{FS: vfs.Default, before: func() error {
		if held.CompareAndSwap(true, false) {
			close(entered)
			<-release
		}
		return nil
	}}
	s := openOn(t, t.TempDir(), fs)
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Append(ctx, "before", domain.Any, numberedEvent(0)); err != nil {
		t.Fatal(err)
	}
	head, _ := s.Head(ctx)

	type answer struct {
		res domain.AppendResult
		err error
	}
	first, second := make(chan answer, 1), make(chan answer, 1)
	released := false
	defer func() {
		if !released {
			close(release) // let the store close
		}
	}()
	held.Store(true)
	go func() { r, err := s.Append(ctx, "a", domain.Any, numberedEvent(1)); first <- answer{r, err} }()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the first append's sync never started")
	}
	go func() { r, err := s.Append(ctx, "b", domain.Any, numberedEvent(2)); second <- answer{r, err} }()

	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		_, closer, err := s.db.Get(eventKey(head + 2))
		if err == nil {
			closer.Close()
			break
		}
		if !errors.Is(err, pebble.ErrNotFound) {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the second append was not written to Pebble while the first one's sync was in progress")
		}
	}
	select {
	case a := <-first:
		t.Fatalf("the first append was answered before its sync returned: %+v", a)
	case a := <-second:
		t.Fatalf("the second append was answered before its sync: %+v", a)
	default:
	}
	if h, _ := s.Head(ctx); h != head {
		t.Fatalf("head %d before any sync returned, want %d", h, head)
	}
	if evs, err := s.ReadAll(ctx, 0, 10); err != nil || len(evs) != int(head) {
		t.Fatalf("readers see %d events (%v) before the syncs, want %d", len(evs), err, head)
	}

	close(release)
	released = true
	a, b := <-first, <-second
	if a.err != nil || b.err != nil {
		t.Fatalf("appends after the sync: %v, %v", a.err, b.err)
	}
	if a.res.Position != head+1 || b.res.Position != head+2 {
		t.Fatalf("positions %d and %d, want %d and %d", a.res.Position, b.res.Position, head+1, head+2)
	}
	if h, _ := s.Head(ctx); h != head+2 {
		t.Fatalf("head %d after both syncs, want %d", h, head+2)
	}
}
