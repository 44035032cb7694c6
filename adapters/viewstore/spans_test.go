package viewstore

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/projections/projectionstest"
)

// TestNoTableHoldsTwoKinds: the tables a serving store's flushes and
// compactions write each hold one kind of key (kindSpan), though every
// commit writes records, index entries and pipeline state together.
func TestNoTableHoldsTwoKinds(t *testing.T) {
	s, v := openEmpty(t, Options{Logger: zerolog.Nop()})
	recs := projectionstest.History()
	for i, r := range recs {
		if err := v.Apply(r); err != nil {
			t.Fatal(err)
		}
		if i%3 == 2 || i+1 == len(recs) {
			state := map[string][]byte{fmt.Sprintf("fan-%03d", i): []byte("{}"), fmt.Sprintf("fan-%03d", i-3): nil}
			if err := s.Commit(v, state); err != nil {
				t.Fatal(err)
			}
		}
		if i == len(recs)/2 {
			if err := s.Sync(); err != nil { // a first flush, for the compaction to merge
				t.Fatal(err)
			}
		}
	}
	check := func(when string, min int) {
		t.Helper()
		levels, err := s.db.SSTables()
		if err != nil {
			t.Fatal(err)
		}
		kinds := map[string]bool{}
		for l, tables := range levels {
			for _, tb := range tables {
				lo, hi := tb.Smallest.UserKey, tb.Largest.UserKey
				if kindOf(lo) != kindOf(hi) {
					t.Errorf("%s: L%d table %s holds %q..%q", when, l, tb.FileNum, lo, hi)
				}
				if _, end, _ := kindSpan(lo); end != nil && bytes.Compare(hi, end) >= 0 {
					t.Errorf("%s: L%d table %s runs from %q past its span's end %q to %q", when, l, tb.FileNum, lo, end, hi)
				}
				kinds[kindOf(lo)] = true
			}
		}
		// The history writes every kind (TestACommitsBatchIsInKeyOrder),
		// though some are all deleted by the end and may be gone (in flight,
		// pipeline state): without the policy, each flush here is one table
		// of them all.
		if len(kinds) < min {
			t.Errorf("%s: tables of %d kinds (%v), want at least %d", when, len(kinds), kinds, min)
		}
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	check("flushed", 12)
	if err := s.db.Compact(context.Background(), []byte{0}, []byte{0xff}, true); err != nil {
		t.Fatal(err)
	}
	check("compacted", 10)
}

// TestKindSpan: a span ends where its kind does, and holds every key of it.
func TestKindSpan(t *testing.T) {
	for _, c := range []struct{ start, end, inside string }{
		{"_meta", "`", "_meta"},
		{"d" + "dlv_1", "e", "d\xff\xff"},
		{"m", "n", "mmsg_9"},
		{"xaapp_1\x00", "xb", "xa\xff"},
		{"xmapp_1", "xn", "xm"},
		{"xssub_1\x00\x01", "xt", "xs\xff\xff"},
		{"zsub_1", "{", "z\xff"},
	} {
		_, end, err := kindSpan([]byte(c.start))
		if err != nil || string(end) != c.end {
			t.Errorf("kindSpan(%q) ends at %q (%v), want %q", c.start, end, err, c.end)
		}
		if bytes.Compare([]byte(c.inside), end) >= 0 || bytes.Compare(end, []byte(c.start)) <= 0 {
			t.Errorf("kindSpan(%q) = ..%q: does not hold %q, or ends before it starts", c.start, end, c.inside)
		}
	}
	if _, end, _ := kindSpan([]byte{0xff, 1}); end != nil {
		t.Errorf("the last kind's span ends at %q, want the end of the key space", end)
	}
}
