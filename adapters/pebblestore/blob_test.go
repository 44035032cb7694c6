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
