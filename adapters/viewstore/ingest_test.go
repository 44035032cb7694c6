package viewstore

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/projections"
	"github.com/hookledger/hookledger/projections/projectionstest"
)

// TestABulkLoadIsIngestedAsTheFold: a bulk store writes its commits as
// tables it ingests, split in two from ingestSplitFrom entries (here every
// commit of more than one), and the store reopened for serving holds the
// fold's views exactly, at every commit cadence.
func TestABulkLoadIsIngestedAsTheFold(t *testing.T) {
	was := ingestSplitFrom
	ingestSplitFrom = 2
	defer func() { ingestSplitFrom = was }()
	recs := projectionstest.History()
	want := projections.New()
	for _, r := range recs {
		if err := want.Apply(r); err != nil {
			t.Fatal(err)
		}
	}
	ws, err := want.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	for _, every := range []int{1, 4, len(recs)} {
		dir := t.TempDir()
		s, err := Open(dir, Options{Logger: zerolog.Nop(), Bulk: true})
		if err != nil {
			t.Fatal(err)
		}
		v, _, err := s.Load()
		if err != nil {
			t.Fatal(err)
		}
		commits := 0
		for i, r := range recs {
			if err := v.Apply(r); err != nil {
				t.Fatal(err)
			}
			if (i+1)%every == 0 || i+1 == len(recs) {
				if err := s.Commit(v, nil); err != nil {
					t.Fatal(err)
				}
				commits++
			}
		}
		if m := s.db.Metrics(); m.Ingest.Count != uint64(commits) || m.Flush.Count != 0 {
			t.Errorf("every %d: %d commits, %d ingested, %d flushed", every, commits, m.Ingest.Count, m.Flush.Count)
		}
		if err := s.Sync(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		assertNoIngestLeft(t, dir)
		served, err := Open(dir, Options{Logger: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := served.Load()
		if err != nil {
			t.Fatal(err)
		}
		gs, err := got.Snapshot()
		served.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(gs, ws) {
			t.Errorf("every %d: the bulk-loaded store differs from the fold\n got %s\nwant %s", every, gs, ws)
		}
	}
}

// TestABulkBatchOutOfOrderIsCommittedAnyway: a batch whose keys are not in
// order (a bug of encode) cannot be a table; it is written as any batch,
// with a warning, and nothing of the tables tried is left behind.
func TestABulkBatchOutOfOrderIsCommittedAnyway(t *testing.T) {
	for _, split := range []int{2, 1 << 20} { // out of order across the cut, and within a table
		dir := t.TempDir()
		var logged bytes.Buffer
		s, err := Open(dir, Options{Logger: zerolog.New(&logged), Bulk: true})
		if err != nil {
			t.Fatal(err)
		}
		was := ingestSplitFrom
		ingestSplitFrom = split
		b := s.db.NewBatch()
		for _, k := range []string{"a", "c", "b", "d"} {
			if err := b.Set([]byte(k), []byte("v"+k), nil); err != nil {
				t.Fatal(err)
			}
		}
		err = s.ingest(b)
		ingestSplitFrom = was
		if err != nil {
			t.Fatalf("split %d: %v", split, err)
		}
		for _, k := range []string{"a", "b", "c", "d"} {
			v, closer, err := s.db.Get([]byte(k))
			if err != nil {
				t.Fatalf("split %d: %s: %v", split, k, err)
			}
			if string(v) != "v"+k {
				t.Errorf("split %d: %s = %q", split, k, v)
			}
			closer.Close()
		}
		if !strings.Contains(logged.String(), "out of key order") {
			t.Errorf("split %d: no warning: %s", split, logged.String())
		}
		if m := s.db.Metrics(); m.Ingest.Count != 0 {
			t.Errorf("split %d: %d ingested", split, m.Ingest.Count)
		}
		assertNoIngestLeft(t, dir)
		s.Close()
	}
}

func assertNoIngestLeft(t *testing.T, dir string) {
	t.Helper()
	left, err := filepath.Glob(filepath.Join(dir, "ingest-*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
}
