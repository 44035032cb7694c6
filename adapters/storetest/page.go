package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/hookledger/hookledger/domain"
)

// pageTests cover domain.PageReader, run on a store that offers it.
var pageTests = []optionalTest[domain.PageReader]{
	{"ReadAllIntoReadsWhatReadAllReads", testPageReadsAsReadAll},
	{"ReadAllIntoReusesThePage", testPageReused},
	{"ReadAllIntoInvalidOrClosed", testPageInvalidOrClosed},
	{"ReadAllIntoWithoutBodiesDecodesAsReadAll", testPageWithoutBodies},
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

// BodiesLedger appends message.published events with bodies (sealed, in
// the clear, large) between delivery events, and returns how many it
// appended. For a store's own test that it leaves bodies out of a page
// WithoutBodies, which the suite cannot require (a store may ignore it).
func BodiesLedger(t *testing.T, s domain.EventStore) int {
	t.Helper()
	at := time.Date(2026, 12, 6, 17, 0, 0, 0, time.UTC)
	sealed := &domain.SealedValue{Alg: domain.SealAlgorithm, KeyID: "app_1/d/20261206#1", Nonce: bytes.Repeat([]byte{7}, 12), Ciphertext: bytes.Repeat([]byte("c"), 1500)}
	n := 0
	for i := range 12 {
		msg := domain.MessagePublished{MessageID: fmt.Sprintf("msg_%d", i), ApplicationID: "app_1", EventType: "order.paid",
			PayloadHash: "sha256:ab", Subject: "cus_1", PublishedAt: at}
		switch i % 3 {
		case 0:
			msg.Sealed = sealed
		case 1:
			msg.Payload = []byte(fmt.Sprintf(`{"order":%d,"pad":"%s"}`, i, bytes.Repeat([]byte("p"), 900)))
		case 2:
			msg.Payload = []byte(`{"big":"` + string(bytes.Repeat([]byte("B"), 100<<10)) + `"}`)
		}
		published, err := domain.Encode(fmt.Sprintf("evt_m%d", i), msg, domain.Metadata{RecordedAt: at})
		if err != nil {
			t.Fatal(err)
		}
		scheduled, err := domain.Encode(fmt.Sprintf("evt_s%d", i), domain.DeliveryScheduled{DeliveryID: fmt.Sprintf("dlv_%d", i),
			MessageID: msg.MessageID, DueAt: at}, domain.Metadata{RecordedAt: at})
		if err != nil {
			t.Fatal(err)
		}
		mustAppend(t, s, "message-"+msg.MessageID, domain.NoStream, published)
		mustAppend(t, s, fmt.Sprintf("delivery-dlv_%d", i), domain.NoStream, scheduled)
		n += 2
	}
	return n
}

// A page WithoutBodies holds the events ReadAll reads, each decoded without
// its body to the same event; a store may leave the bodies out, nothing
// else: every other event's Data, and every Metadata, are whole.
func testPageWithoutBodies(t *testing.T, s domain.EventStore, r domain.PageReader) {
	n := BodiesLedger(t, s)
	want, err := s.ReadAll(ctxT(t), 0, n+1)
	if err != nil || len(want) != n {
		t.Fatalf("ReadAll: %d events, %v", len(want), err)
	}
	page := domain.Page{WithoutBodies: true}
	got, err := r.ReadAllInto(ctxT(t), 0, n+1, &page)
	if err != nil || len(got) != n {
		t.Fatalf("ReadAllInto: %d events, %v", len(got), err)
	}
	for i, g := range got {
		w := want[i]
		g2, w2 := g, w
		g2.Data, w2.Data = nil, nil
		if !sameRecorded(g2, w2) {
			t.Fatalf("position %d: %s/%d %s, ReadAll %s/%d %s", w.Position, g.Stream, g.Revision, g.Type, w.Stream, w.Revision, w.Type)
		}
		if w.Type != domain.TypeMessagePublished {
			if !bytes.Equal(g.Data, w.Data) {
				t.Fatalf("position %d (%s): Data %q, ReadAll %q", w.Position, w.Type, g.Data, w.Data)
			}
			continue
		}
		gotEv, err := domain.DecodeEventWithoutBody(g)
		if err != nil {
			t.Fatalf("position %d: %v (Data %.200q)", w.Position, err, g.Data)
		}
		wantEv, err := domain.DecodeEventWithoutBody(w)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(gotEv, wantEv) {
			t.Fatalf("position %d: decodes to %#v, ReadAll's to %#v", w.Position, gotEv, wantEv)
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
