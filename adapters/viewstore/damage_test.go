package viewstore_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/adapters/viewstore"
	"github.com/hookledger/hookledger/projections"
	"github.com/hookledger/hookledger/projections/projectionstest"
)

// TestADamagedStoreIsReportedAndRebuiltAtTheNextOpen: a byte flipped in a
// table of a stopped store. Reading the damaged records fails without
// ending the process (Pebble's default would), Damaged says so, and the
// next open discards the store, so that the ledger's fold rebuilds it.
func TestADamagedStoreIsReportedAndRebuiltAtTheNextOpen(t *testing.T) {
	dir := t.TempDir() + "/views"
	s := openFolded(t, dir, viewstore.Options{Logger: zerolog.Nop()})
	if err := s.Close(); err != nil { // flushed: every record is in a table
		t.Fatal(err)
	}
	flipInLargestTable(t, dir)

	s = open(t, dir)
	if s.Damaged() != nil {
		t.Fatal("damaged before anything was read")
	}
	v, _, err := s.Load()
	if err == nil {
		walkErr := v.Records().WalkMessages(func(*projections.MessageView) error { return nil })
		if err = walkErr; err == nil {
			err = v.Records().WalkDeliveries(func(*projections.DeliveryView) error { return nil })
		}
	}
	if err == nil {
		t.Fatal("every record of a store with a flipped byte read back")
	}
	if s.Damaged() == nil {
		t.Fatalf("a read failed (%v) and the store does not say it is damaged", err)
	}
	s.Close()
	if !viewstore.MarkedDamaged(dir) {
		t.Fatal("the damaged store is not marked to be rebuilt")
	}

	s = open(t, dir)
	defer s.Close()
	if s.Damaged() != nil {
		t.Fatal("the reopened store is still damaged")
	}
	v, _, err = s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if v.Checkpoint != 0 || viewstore.MarkedDamaged(dir) {
		t.Fatalf("the damaged store was kept (checkpoint %d); want it discarded, to be rebuilt", v.Checkpoint)
	}
}

// openFolded opens a store in dir and commits the fold of
// projectionstest.History into it.
func openFolded(t *testing.T, dir string, opts viewstore.Options) *viewstore.Store {
	t.Helper()
	s, err := viewstore.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	v, _, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range projectionstest.History() {
		if err := v.Apply(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Commit(v, nil); err != nil {
		t.Fatal(err)
	}
	return s
}

// flipInLargestTable flips a bit early in the largest table of the store in
// dir: in its first data block, which a walk of the records reads.
func flipInLargestTable(t *testing.T, dir string) {
	t.Helper()
	tables, err := filepath.Glob(filepath.Join(dir, "*.sst"))
	if err != nil || len(tables) == 0 {
		t.Fatalf("no tables in %s (%v)", dir, err)
	}
	largest, size := "", int64(0)
	for _, p := range tables {
		if fi, err := os.Stat(p); err == nil && fi.Size() > size {
			largest, size = p, fi.Size()
		}
	}
	b, err := os.ReadFile(largest)
	if err != nil {
		t.Fatal(err)
	}
	b[64] ^= 0x10
	if err := os.WriteFile(largest, b, 0o640); err != nil {
		t.Fatal(err)
	}
}
