package pebblestore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/hookledger/hookledger/domain"
)

// getHead is what the committer did before storedHeads: one Pebble Get per
// stream. The test checks storedHeads against it, the benchmark compares them.
func getHead(s *Store, stream string) (streamHead, error) {
	v, closer, err := s.db.Get(appendHeadKey(nil, stream))
	if errors.Is(err, pebble.ErrNotFound) {
		return streamHead{}, nil
	}
	if err != nil {
		return streamHead{}, err
	}
	defer closer.Close()
	return streamHead{rev: binary.BigEndian.Uint64(v), exists: true}, nil
}

func requests(streams ...string) []*appendReq {
	r := &appendReq{ctx: context.Background()}
	for _, st := range streams {
		r.parts = append(r.parts, appendPart{stream: st})
	}
	return []*appendReq{r}
}

func TestStoredHeadsReadWhatIsOnDisk(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	ev := func() domain.EventData {
		return domain.EventData{ID: domain.FormatUUID(fmt.Appendf(nil, "%016d", time.Now().UnixNano())), Type: "thing.happened", Data: []byte(`{}`)}
	}
	// Revisions 0, 2 and 4; "b-long" shares "b"'s prefix, so a seek for "b"
	// must not answer with "b-long"'s head.
	for stream, n := range map[string]int{"b": 3, "b-long": 5, "d": 1} {
		for range n {
			if _, err := s.Append(ctx, stream, domain.Any, ev()); err != nil {
				t.Fatal(err)
			}
		}
	}
	s.heads = nil // as after the cache was emptied: every head from Pebble
	got, err := s.storedHeads(append(requests("d", "a", "b", "c", "b-long"), requests("b", "e")...))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]streamHead{"a": {}, "b": {rev: 2, exists: true}, "b-long": {rev: 4, exists: true}, "c": {}, "d": {rev: 0, exists: true}, "e": {}}
	if len(got) != len(want) {
		t.Fatalf("heads %v, want %v", got, want)
	}
	for stream, w := range want {
		if got[stream] != w {
			t.Errorf("head of %s: %+v, want %+v", stream, got[stream], w)
		}
		if g, err := getHead(s, stream); err != nil || g != w {
			t.Errorf("a Get of %s's head answers %+v, %v: the test's expectations are wrong", stream, g, err)
		}
	}
	// A head the cache holds is not read again: the cache may be ahead of
	// Pebble (a turn decided and not written yet).
	s.heads = map[string]streamHead{"b": {rev: 9, exists: true}}
	if got, err := s.storedHeads(requests("b", "c")); err != nil || len(got) != 1 || got["c"] != (streamHead{}) {
		t.Errorf("with b cached: %v, %v; want only c, missing", got, err)
	}
	if got, err := s.storedHeads(requests("b")); err != nil || got != nil {
		t.Errorf("with every head cached: %v, %v; want nothing read", got, err)
	}
}

func TestStoredHeadsReportAMalformedHead(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.db.Set(appendHeadKey(nil, "bad"), []byte{1, 2, 3}, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	got, err := s.storedHeads(requests("a", "bad", "c"))
	var corrupt *domain.CorruptError
	if !errors.As(err, &corrupt) {
		t.Fatalf("err %v, want a CorruptError", err)
	}
	if _, ok := got["bad"]; ok {
		t.Errorf("the malformed head is in the answer: %v", got)
	}
	if h, ok := got["a"]; !ok || h.exists {
		t.Errorf("a, read before the malformed head: %+v %v, want missing", h, ok)
	}
	// The committer refuses the appends whose head could not be read.
	if _, err := s.Append(context.Background(), "bad", domain.Any, domain.EventData{ID: domain.FormatUUID([]byte("0000000000000001")), Type: "thing.happened", Data: []byte(`{}`)}); !errors.As(err, &corrupt) {
		t.Errorf("append to a stream with a malformed head: %v, want a CorruptError", err)
	}
}

// BenchmarkStoredHeads looks up the heads of 256 new streams (a busy turn of
// the committer: each message and delivery starts one) in a ledger of
// 204,800 streams, one Get per stream against storedHeads' one iterator,
// and against storedHeads as the committer calls it, where fresh knows the
// streams are new.
func BenchmarkStoredHeads(b *testing.B) {
	s, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	data := fmt.Appendf(nil, `{"excerpt":"%0300d"}`, 0)
	n := 0
	for range 800 {
		parts := make([]domain.StreamAppend, 0, 256)
		for range 256 {
			n++
			parts = append(parts, domain.StreamAppend{Stream: fmt.Sprintf("delivery-dlv_%012d", n*7919%10000019), Expected: domain.NoStream,
				Events: []domain.EventData{{ID: domain.FormatUUID(fmt.Appendf(nil, "%016d", n)), Type: "thing.happened", Data: data}}})
		}
		if _, err := s.AppendMulti(context.Background(), parts...); err != nil {
			b.Fatal(err)
		}
	}
	time.Sleep(time.Second) // flushes and compactions settle
	newStreams := func(i int) []*appendReq {
		streams := make([]string, 256)
		for j := range streams {
			streams[j] = fmt.Sprintf("delivery-dlv_%012d", 20000000+i*256+j)
		}
		return requests(streams...)
	}
	s.heads = nil
	followed := s.fresh
	s.fresh = &fresh{full: true} // follows no category: every head is read
	b.Run("get-each", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			for _, p := range newStreams(i)[0].parts {
				if h, err := getHead(s, p.stream); err != nil || h.exists {
					b.Fatal(h, err)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*256), "ns/head")
	})
	b.Run("stored-heads", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if heads, err := s.storedHeads(newStreams(i)); err != nil || len(heads) != 256 {
				b.Fatal(len(heads), err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*256), "ns/head")
	})
	s.fresh = followed
	b.Run("fresh", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if heads, err := s.storedHeads(newStreams(i)); err != nil || len(heads) != 256 {
				b.Fatal(len(heads), err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*256), "ns/head")
	})
}
