package pebblestore

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/hookledger/hookledger/domain"
)

// Large records are kept in blob files beside the tables, so that
// compactions do not rewrite them; they read back the same, before and
// after a compaction and a restart.
func TestLargeRecordsAreKeptOutsideTheTables(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	data := func(i int) []byte {
		if i%3 == 0 { // below the threshold: stays in the table
			return fmt.Appendf(nil, `{"n":%d}`, i)
		}
		return fmt.Appendf(nil, `{"n":%d,"pad":%q}`, i, strings.Repeat("x", 1024))
	}
	const n = 300
	for i := range n {
		ev := domain.EventData{ID: fmt.Sprintf("evt_%04d", i), Type: "test.event", Data: data(i)}
		if _, err := s.Append(ctx, fmt.Sprintf("message-%04d", i), domain.NoStream, ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.db.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Compact(ctx, []byte{0}, []byte{0xff}, false); err != nil {
		t.Fatal(err)
	}
	m := s.db.Metrics()
	if m.BlobFiles.LiveCount == 0 || m.BlobFiles.ReferencedValueSize < uint64(n*2/3*1024) {
		t.Fatalf("blob files: %d, %d bytes of values referenced; want the large records there",
			m.BlobFiles.LiveCount, m.BlobFiles.ReferencedValueSize)
	}
	check := func(s *Store) {
		t.Helper()
		recs, err := s.ReadAll(ctx, 1, n+1)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != n {
			t.Fatalf("read %d records, want %d", len(recs), n)
		}
		for i, r := range recs {
			if !bytes.Equal(r.Data, data(i)) || r.ID != fmt.Sprintf("evt_%04d", i) {
				t.Fatalf("record %d: %s %.40s, want %s", i, r.ID, r.Data, data(i)[:min(40, len(data(i)))])
			}
		}
	}
	check(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check(s)
}

// A ledger written before value separation (every record in the tables)
// opens, takes new records into blob files, and reads back whole, old and
// new alike, through a compaction that mixes them.
func TestALedgerWrittenBeforeValueSeparationReadsBackWhole(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	body := func(i int) []byte { return fmt.Appendf(nil, `{"n":%d,"pad":%q}`, i, strings.Repeat("y", 600)) }
	appendN := func(s *Store, from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			if _, err := s.Append(ctx, fmt.Sprintf("message-%04d", i), domain.NoStream,
				domain.EventData{ID: fmt.Sprintf("evt_%04d", i), Type: "test.event", Data: body(i)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.db.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	old, err := Open(dir, Options{inlineValues: true})
	if err != nil {
		t.Fatal(err)
	}
	appendN(old, 0, 100)
	if n := old.db.Metrics().BlobFiles.LiveCount; n != 0 {
		t.Fatalf("the older build's ledger has %d blob files", n)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	appendN(s, 100, 200)
	if err := s.db.Compact(ctx, []byte{0}, []byte{0xff}, false); err != nil {
		t.Fatal(err)
	}
	if s.db.Metrics().BlobFiles.LiveCount == 0 {
		t.Fatal("no blob file for the records written after the upgrade")
	}
	recs, err := s.ReadAll(ctx, 1, 300)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 200 {
		t.Fatalf("read %d records, want 200", len(recs))
	}
	for i, r := range recs {
		if !bytes.Equal(r.Data, body(i)) {
			t.Fatalf("record %d does not read back", i)
		}
	}
}
