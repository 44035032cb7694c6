package pebblestore

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/hookledger/hookledger/domain"
)

// The live subscribers read the last events from the tail, and what they get
// is exactly what the tables give (positions, revisions, times, bytes, nil
// for empty metadata), through batches of several events, past the tail's
// bound (a subscriber behind it reads the tables, then the tail).
func TestSubscribersReadTheTailAsTheTablesHoldIt(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var live []domain.RecordedEvent
	go s.SubscribeAll(ctx, 0, func(ev domain.RecordedEvent) error {
		mu.Lock()
		live = append(live, ev)
		mu.Unlock()
		return nil
	})
	const total = tailEvents + 4000
	n := 0
	for i := 0; n < total; i++ {
		batch := make([]domain.EventData, 1+i%3)
		for j := range batch {
			batch[j] = domain.EventData{ID: domain.FormatUUID([]byte(fmt.Sprintf("%016d", n))), Type: fmt.Sprintf("t%d", j),
				Data: []byte(fmt.Sprintf(`{"n":%d}`, n))}
			if n%2 == 0 {
				batch[j].Metadata = []byte(`{"schema":1}`)
			}
			n++
		}
		if _, err := s.Append(ctx, fmt.Sprintf("s-%d", i%50), domain.Any, batch...); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		got := len(live)
		mu.Unlock()
		if got >= n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the subscriber got %d of %d", got, n)
		}
	}
	var tables []domain.RecordedEvent
	for from := domain.Position(1); ; {
		page, err := s.ReadAll(ctx, from, 4096)
		if err != nil {
			t.Fatal(err)
		}
		tables = append(tables, page...)
		if len(page) < 4096 {
			break
		}
		from = page[len(page)-1].Position + 1
	}
	mu.Lock()
	defer mu.Unlock()
	if len(tables) != n || !reflect.DeepEqual(live, tables) {
		for i := range tables {
			if i >= len(live) || !reflect.DeepEqual(live[i], tables[i]) {
				t.Fatalf("event %d: live %+v, tables %+v", i, live[min(i, len(live)-1)], tables[i])
			}
		}
		t.Fatalf("live %d events, tables %d", len(live), len(tables))
	}
	if _, ok := s.tail.read(nil, 1, 1); ok {
		t.Fatal("the tail still holds position 1: it is not bounded")
	}
	if evs, ok := s.tail.read(nil, domain.Position(n), 10); !ok || len(evs) != 1 {
		t.Fatal("the tail does not hold the newest event")
	}

	// A subscriber starting behind the tail reads the tables, then the tail.
	var late []domain.RecordedEvent
	lctx, lcancel := context.WithCancel(ctx)
	err = s.SubscribeAll(lctx, 0, func(ev domain.RecordedEvent) error {
		late = append(late, ev)
		if len(late) == n {
			lcancel()
		}
		return nil
	})
	if !reflect.DeepEqual(late, tables) {
		t.Fatalf("a late subscriber got %d events, not the tables' %d (%v)", len(late), len(tables), err)
	}
}

// The tail is bounded by bytes too: large events push the oldest out, the
// newest always stays.
func TestTailIsBoundedByBytes(t *testing.T) {
	tl := newTail(0)
	big := make([]byte, 3<<20)
	for p := domain.Position(1); p <= 20; p++ {
		tl.add([]domain.RecordedEvent{{Position: p, Data: big}})
		if tl.bytes > tailBytes {
			t.Fatalf("after %d events the tail holds %d bytes", p, tl.bytes)
		}
		if evs, ok := tl.read(nil, p, 1); !ok || evs[0].Position != p {
			t.Fatalf("the newest event %d is not held", p)
		}
	}
	if _, ok := tl.read(nil, 1, 1); ok || int(tl.next-tl.first) != tailBytes/len(big) {
		t.Fatalf("holds positions %d..%d", tl.first, tl.next-1)
	}
	huge := make([]byte, tailBytes+1) // larger than the bound: held alone
	tl.add([]domain.RecordedEvent{{Position: 21, Data: huge}})
	if evs, ok := tl.read(nil, 21, 5); !ok || len(evs) != 1 || tl.first != 21 {
		t.Fatalf("an event over the bound: %v %v, first %d", len(evs), ok, tl.first)
	}
}

// A subscriber's page is refilled in place, and what it held past the new
// length is let go (it would keep older events' bodies alive).
func TestTailRefillsAPageInPlace(t *testing.T) {
	tl := newTail(0)
	for p := domain.Position(1); p <= 6; p++ {
		tl.add([]domain.RecordedEvent{{Position: p, Data: []byte{byte(p)}}})
	}
	page, ok := tl.read(nil, 1, 4)
	if !ok || len(page) != 4 || page[3].Position != 4 {
		t.Fatalf("first page: %v %v", page, ok)
	}
	again, ok := tl.read(page, 5, 4)
	if !ok || len(again) != 2 || again[0].Position != 5 || again[1].Position != 6 {
		t.Fatalf("second page: %v %v", again, ok)
	}
	if &again[0] != &page[0] {
		t.Fatal("the second page is a new slice, not the first one refilled")
	}
	if rest := page[2:4]; rest[0].Data != nil || rest[1].Data != nil || rest[0].Position != 0 {
		t.Fatalf("the page still holds events past its length: %v", rest)
	}
	if big, ok := tl.read(again[:0:1], 1, 6); !ok || len(big) != 6 || big[5].Position != 6 {
		t.Fatalf("a page too small for the events: %v %v", big, ok)
	}
}
