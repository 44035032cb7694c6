package pebblestore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/hookledger/hookledger/domain"
)

// failingSyncFS fails the sync of every WAL file once armed.
type failingSyncFS struct {
	vfs.FS
	armed atomic.Bool
}

func (f *failingSyncFS) Create(name string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	file, err := f.FS.Create(name, cat)
	if err != nil || !strings.HasSuffix(name, ".log") {
		return file, err
	}
	return &failingSyncFile{File: file, fs: f}, nil
}

func (f *failingSyncFS) ReuseForWrite(oldname, newname string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	file, err := f.FS.ReuseForWrite(oldname, newname, cat)
	if err != nil || !strings.HasSuffix(newname, ".log") {
		return file, err
	}
	return &failingSyncFile{File: file, fs: f}, nil
}

type failingSyncFile struct {
	vfs.File
	fs *failingSyncFS
}

var errInjectedSync = errors.New("injected: WAL sync failed")

func (f *failingSyncFile) Sync() error {
	if f.fs.armed.Load() {
		return errInjectedSync
	}
	return f.File.Sync()
}

func (f *failingSyncFile) SyncData() error {
	if f.fs.armed.Load() {
		return errInjectedSync
	}
	return f.File.SyncData()
}

func (f *failingSyncFile) SyncTo(length int64) (bool, error) {
	if f.fs.armed.Load() {
		return false, errInjectedSync
	}
	return f.File.SyncTo(length)
}

// TestNothingIsAcknowledgedAfterAFailedSync: the committer decides the next
// turn while one syncs; when a sync fails, no append of that turn or of the
// one behind it is acknowledged, the head and the readers stay where the
// last good sync left them, and the store refuses appends from then on.
func TestNothingIsAcknowledgedAfterAFailedSync(t *testing.T) {
	fs := &failingSyncFS{FS: vfs.Default}
	dir := t.TempDir()
	s, err := Open(dir, Options{fs: fs})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	ev := func(i int) domain.EventData {
		return domain.EventData{ID: domain.FormatUUID(fmt.Appendf(nil, "%016d", i)), Type: "t", Data: []byte(`{}`)}
	}
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
					_, err := s.Append(ctx, fmt.Sprintf("s-%d-%d", base, w), domain.Any, ev(base+w*each+i))
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

	fs.armed.Store(true)
	var armed atomic.Bool
	armed.Store(true)
	append(1_000_000, &armed)
	if after, _ := s.Head(ctx); after != head {
		t.Fatalf("head moved from %d to %d after a failed sync", head, after)
	}
	if evs, err := s.ReadAll(ctx, 0, 10*writers*each); err != nil || len(evs) != int(head) {
		t.Fatalf("readers see %d events (%v), want the %d synced", len(evs), err, head)
	}
	fs.armed.Store(false) // the disk is back: the store still refuses until a restart
	if _, err := s.Append(ctx, "later", domain.Any, ev(9)); !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("append after the fault cleared: %v, want ErrUnavailable", err)
	}
	s.Close()

	// After a restart the ledger holds every acknowledged event, with no
	// hole: what the failed turn wrote before its sync failed may be there
	// (its appends were told the outcome is unknown), nothing after a gap.
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
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
