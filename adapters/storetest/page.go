package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/hookledger/hookledger/domain"
)

// pageTests cover domain.PageReader, run on a store that offers it.
var pageTests = []optionalTest[domain.PageReader]{
	{"ReadAllIntoReadsWhatReadAllReads", testPageReadsAsReadAll},
	{"ReadAllIntoReusesThePage", testPageReused},
	{"ReadAllIntoInvalidOrClosed", testPageInvalidOrClosed},
}

// pageLedger appends events of every size a page handles differently:
// small ones that share a chunk, ~1 KiB ones, and a large one copied on its
// own, across several streams and appends.
func pageLedger(t *testing.T, s domain.EventStore) {
	t.Helper()
	large := ev("large", `{"body":"`+string(bytes.Repeat([]byte("L"), 200<<10))+`"}`)
	for i := range 40 {
		evs := []domain.EventData{ev("small", fmt.Sprintf(`{"n":%d}`, i))}
		if i%3 == 0 {
			evs = append(evs, ev("kib", fmt.Sprintf(`{"n":%d,"pad":"%s"}`, i, bytes.Repeat([]byte("k"), 1000))))
		}
		if i == 17 {
			evs = append(evs, large)
		}
		mustAppend(t, s, fmt.Sprintf("pg-%d", i%4), domain.Any, evs...)
	}
}

func sameRecorded(a, b domain.RecordedEvent) bool {
	return a.Position == b.Position && a.Stream == b.Stream && a.Revision == b.Revision && a.ID == b.ID &&
		a.Type == b.Type && bytes.Equal(a.Data, b.Data) && bytes.Equal(a.Metadata, b.Metadata) && a.Created.Equal(b.Created)
}

// Reading $all page after page into one page gives, page for page, what
// ReadAll gives; each page is compared before the next read overwrites it.
func testPageReadsAsReadAll(t *testing.T, s domain.EventStore, r domain.PageReader) {
	pageLedger(t, s)
	head, err := s.Head(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{1, 7, 1000} {
		var page domain.Page
		read := 0
		for from := domain.Position(0); ; {
			got, err := r.ReadAllInto(ctxT(t), from, size, &page)
			if err != nil {
				t.Fatalf("size %d, from %d: %v", size, from, err)
			}
			want, err := s.ReadAll(ctxT(t), from, size)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("size %d, from %d: %d events, ReadAll %d", size, from, len(got), len(want))
			}
			if len(got) > 0 && &got[0] != &page.Events[0] {
				t.Fatalf("size %d: the events returned are not page.Events", size)
			}
			for i := range got {
				if !sameRecorded(got[i], want[i]) {
					t.Fatalf("size %d, position %d: %s/%d %s %q, ReadAll %s/%d %s %q", size, want[i].Position,
						got[i].Stream, got[i].Revision, got[i].Type, got[i].Data, want[i].Stream, want[i].Revision, want[i].Type, want[i].Data)
				}
			}
			if len(got) == 0 {
				break
			}
			read += len(got)
			from = got[len(got)-1].Position + 1
		}
		if domain.Position(read) != head {
			t.Fatalf("size %d: read %d events, head %d", size, read, head)
		}
	}
}

// A second read into the same page holds its records in the memory of the
// first: the point of the capability.
func testPageReused(t *testing.T, s domain.EventStore, r domain.PageReader) {
	pageLedger(t, s)
	var page domain.Page
	first, err := r.ReadAllInto(ctxT(t), 0, 30, &page)
	if err != nil || len(first) != 30 {
		t.Fatalf("first read: %d events, %v", len(first), err)
	}
	at := &first[0].Data[0]
	again, err := r.ReadAllInto(ctxT(t), 0, 30, &page)
	if err != nil || len(again) != 30 {
		t.Fatalf("second read: %d events, %v", len(again), err)
	}
	if &again[0].Data[0] != at {
		t.Fatal("the second read did not reuse the page's memory")
	}
	if &again[0] != &first[0] {
		t.Fatal("the second read did not reuse the page's events")
	}
	// Appending to one event's data must not write into the events after it.
	var before [][]byte
	for _, e := range again[1:] {
		before = append(before, append([]byte(nil), e.Data...))
	}
	_ = append(again[0].Data, bytes.Repeat([]byte("!"), 8<<10)...)
	for i, e := range again[1:] {
		if !bytes.Equal(e.Data, before[i]) {
			t.Fatalf("appending to an event's data overwrote position %d's", e.Position)
		}
	}
}

func testPageInvalidOrClosed(t *testing.T, s domain.EventStore, r domain.PageReader) {
	mustAppend(t, s, "pg-c", domain.NoStream, ev("x", `{}`))
	var page domain.Page
	if _, err := r.ReadAllInto(ctxT(t), 0, 0, &page); !errors.Is(err, domain.ErrInvalidArgument) {
		t.Errorf("max 0: %v, want ErrInvalidArgument", err)
	}
	if got, err := r.ReadAllInto(ctxT(t), 100, 10, &page); err != nil || len(got) != 0 {
		t.Errorf("past the head: %d events, %v", len(got), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.ReadAllInto(ctx, 0, 10, &page); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v, want context.Canceled", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadAllInto(context.Background(), 0, 10, &page); !errors.Is(err, domain.ErrClosed) {
		t.Fatalf("after close: %v, want ErrClosed", err)
	}
}

// ReusedPages is a domain.PageReader over any store, for testing what
// reads $all into pages: it reads at most Size events at a time (5 if
// unset), and before each read it overwrites every byte the page held with
// 'X', so a reader that kept a record's bytes past handing its page back
// sees garbage. Reads counts the reads into pages.
type ReusedPages struct {
	domain.EventStore
	Size  int
	Reads int
}

// ReadAllInto implements domain.PageReader.
func (p *ReusedPages) ReadAllInto(ctx context.Context, from domain.Position, max int, page *domain.Page) ([]domain.RecordedEvent, error) {
	p.Reads++
	for _, e := range page.Events {
		for i := range e.Data {
			e.Data[i] = 'X'
		}
		for i := range e.Metadata {
			e.Metadata[i] = 'X'
		}
	}
	page.Reset()
	size := p.Size
	if size <= 0 {
		size = 5
	}
	recs, err := p.EventStore.ReadAll(ctx, from, min(max, size))
	for _, r := range recs {
		r.Data, r.Metadata = page.Copy(r.Data), page.Copy(r.Metadata)
		page.Events = append(page.Events, r)
	}
	return page.Events, err
}
