package storekit_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/hookledger/hookledger/adapters/memstore"
	"github.com/hookledger/hookledger/adapters/storekit"
	"github.com/hookledger/hookledger/adapters/storetest"
	"github.com/hookledger/hookledger/domain"
)

func ledgerOf(t *testing.T, n int) domain.EventStore {
	t.Helper()
	s := memstore.New()
	t.Cleanup(func() { s.Close() })
	for i := range n {
		if _, err := s.Append(context.Background(), "s", domain.Any, domain.EventData{
			ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), Type: "x", Data: []byte(fmt.Sprintf(`{"n":%d}`, i))}); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// unsupported is a wrapper whose store has no page reads.
type unsupported struct{ domain.EventStore }

func (unsupported) ReadAllInto(context.Context, domain.Position, int, *domain.Page) ([]domain.RecordedEvent, error) {
	return nil, fmt.Errorf("wrapped: %w", errors.ErrUnsupported)
}

func TestARingReadsIntoPagesOnlyFromAPageReader(t *testing.T) {
	s := ledgerOf(t, 4)
	for _, tc := range []struct {
		name  string
		store domain.EventStore
		paged bool
	}{
		{"a store without page reads", s, false},
		{"a wrapper that answers unsupported", unsupported{s}, false},
		{"a page reader", &storetest.ReusedPages{EventStore: s, Size: 2}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ring := storekit.NewPageRing(tc.store, 2)
			recs, page, err := ring.Read(context.Background(), 0, 2)
			if err != nil || len(recs) != 2 || recs[0].Position != 1 {
				t.Fatalf("read: %d events, %v", len(recs), err)
			}
			if (page != nil) != tc.paged {
				t.Fatalf("page %v, want one: %v", page, tc.paged)
			}
			ring.Done(page)
		})
	}
}

// With every page out, Read waits for one to come back (here: until its
// context ends), and a page given back is read into again.
func TestARingWaitsForAPageToComeBack(t *testing.T) {
	ring := storekit.NewPageRing(&storetest.ReusedPages{EventStore: ledgerOf(t, 4), Size: 2}, 1)
	_, first, err := ring.Read(context.Background(), 0, 2)
	if err != nil || first == nil {
		t.Fatalf("first read: %v, %v", first, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := ring.Read(ctx, 3, 2); !errors.Is(err, context.Canceled) {
		t.Fatalf("a read with every page out: %v, want it to wait until its context ends", err)
	}
	ring.Done(first)
	recs, again, err := ring.Read(context.Background(), 3, 2)
	if err != nil || again != first || len(recs) != 2 || recs[0].Position != 3 {
		t.Fatalf("after the page came back: %d events, same page %v, %v", len(recs), again == first, err)
	}
}
