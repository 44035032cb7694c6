package viewstore_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/adapters/viewstore"
	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
	"github.com/hookledger/hookledger/projections/projectionstest"
)

type harness struct {
	dir string
	s   *viewstore.Store
	v   *projections.Views
}

func (h *harness) Load(t *testing.T) *projections.Views {
	if h.v == nil {
		v, _, err := h.s.Load()
		if err != nil {
			t.Fatal(err)
		}
		h.v = v
	}
	return h.v
}

func (h *harness) Commit(t *testing.T, v *projections.Views) {
	if err := h.s.Commit(v, nil); err != nil {
		t.Fatal(err)
	}
}

func (h *harness) Reopen(t *testing.T) {
	if err := h.s.Close(); err != nil {
		t.Fatal(err)
	}
	h.s, h.v = open(t, h.dir), nil
}

func open(t *testing.T, dir string) *viewstore.Store {
	t.Helper()
	s, err := viewstore.Open(dir, viewstore.Options{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStoreSuite(t *testing.T) {
	projectionstest.RunStoreSuite(t, func(t *testing.T) projectionstest.Store {
		dir := t.TempDir()
		h := &harness{dir: dir, s: open(t, dir)}
		t.Cleanup(func() { h.s.Close() })
		return h
	})
}

// TestACrashLosesTheLastBatchesWhole: the store keeps no write-ahead log, so
// a crash loses the batches not yet written out to tables, and only whole
// ones. A copy of the directory of a store still open (what a kill -9
// leaves) opens at a checkpoint no older than the last Sync, with exactly the
// records of the fold up to that checkpoint.
func TestACrashLosesTheLastBatchesWhole(t *testing.T) {
	recs := projectionstest.History()
	for _, cut := range []int{0, 9, len(recs) - 3} {
		dir := t.TempDir() + "/views"
		s := open(t, dir)
		v, _, err := s.Load()
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range recs {
			if err := v.Apply(r); err != nil {
				t.Fatal(err)
			}
			if err := s.Commit(v, nil); err != nil {
				t.Fatal(err)
			}
			if i+1 == cut {
				if err := s.Sync(); err != nil {
					t.Fatal(err)
				}
			}
		}
		crashed := copyLiveDir(t, s, dir)
		s.Close()
		c := open(t, crashed)
		got, _, err := c.Load()
		if err != nil {
			t.Fatal(err)
		}
		if got.Checkpoint < domain.Position(cut) || got.Checkpoint > domain.Position(len(recs)) {
			t.Fatalf("cut %d: the crashed store opens at checkpoint %d", cut, got.Checkpoint)
		}
		want := projections.New()
		for _, r := range recs[:got.Checkpoint] {
			if err := want.Apply(r); err != nil {
				t.Fatal(err)
			}
		}
		gs, _ := got.Snapshot()
		ws, _ := want.Snapshot()
		if !bytes.Equal(gs, ws) {
			t.Errorf("cut %d: the crashed store's views differ from the fold up to its checkpoint\n got %s\nwant %s", cut, gs, ws)
		}
		c.Close()
	}
}

// copyLiveDir copies the directory of a store still open, as a kill -9
// would leave it. Background compactions go on meanwhile (with a serving
// store's tables cut by kind, one follows most syncs), and a copy made
// while one deletes or adds tables and rewrites the manifest mixes two
// states of the directory: the copy is made while none runs, and made again
// if one ran during it.
func copyLiveDir(t *testing.T, s *viewstore.Store, dir string) string {
	t.Helper()
	for try := 0; try < 1000; try++ {
		before, running := viewstore.BackgroundWork(s)
		if running {
			time.Sleep(time.Millisecond)
			continue
		}
		crashed := filepath.Join(t.TempDir(), "crashed")
		if err := os.CopyFS(crashed, os.DirFS(dir)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		} else if after, running := viewstore.BackgroundWork(s); err == nil && after == before && !running {
			return crashed
		}
	}
	t.Fatal("the store's compactions never stopped long enough to copy it")
	return ""
}
