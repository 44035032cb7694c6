package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookledger/hookledger/adapters/memstore"
	"github.com/hookledger/hookledger/domain"
)

// remapped serves a ledger's events at other positions (at[i] for the
// event at position i+1; increasing), and at most short events per read
// from position shortFrom on when short > 0: the shapes of $all the
// rebuild's read-ahead must not be fooled by. failFrom > 0 fails every read
// from that position on. reads counts the reads.
type remapped struct {
	domain.EventStore
	at        []domain.Position
	short     int
	shortFrom domain.Position
	failFrom  domain.Position
	reads     atomic.Int64
}

var errRead = errors.New("read failed")

func (r *remapped) ReadAll(ctx context.Context, from domain.Position, max int) ([]domain.RecordedEvent, error) {
	if r.failFrom > 0 && from >= r.failFrom {
		return nil, errRead
	}
	r.reads.Add(1)
	if r.short > 0 && from >= r.shortFrom {
		max = min(max, r.short)
	}
	i := sort.Search(len(r.at), func(i int) bool { return r.at[i] >= from })
	if i == len(r.at) {
		return nil, nil
	}
	page, err := r.EventStore.ReadAll(ctx, domain.Position(i+1), max)
	for k := range page {
		page[k].Position = r.at[int(page[k].Position)-1]
	}
	return page, err
}

func ledgerOf(t *testing.T, n int) domain.EventStore {
	t.Helper()
	s := memstore.New()
	for i := range n {
		id := fmt.Sprintf("app_%d", i)
		ed, err := domain.Encode(fmt.Sprintf("ev_%d", i), domain.ApplicationCreated{ApplicationID: id, Name: id, CreatedAt: time.Unix(1, 0).UTC()}, domain.Metadata{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Append(context.Background(), "application-"+id, domain.NoStream, ed); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// handedOver runs decodedPages and returns the positions it handed over, in
// order, and the error it ended with.
func handedOver(t *testing.T, s domain.EventStore, upTo domain.Position) ([]domain.Position, error) {
	t.Helper()
	var got []domain.Position
	for pg := range decodedPages(t.Context(), s, upTo) { // ended, its goroutines stop
		if pg.err != nil {
			return got, pg.err
		}
		if len(pg.recs) != len(pg.events) || len(pg.recs) == 0 {
			t.Fatalf("a page of %d records and %d events", len(pg.recs), len(pg.events))
		}
		for i, rec := range pg.recs {
			// ev_<i> created app_<i>: the event decoded is the record's.
			if e, ok := pg.events[i].(domain.ApplicationCreated); !ok || "ev_"+e.ApplicationID[len("app_"):] != rec.ID {
				t.Fatalf("position %d holds %+v", rec.Position, pg.events[i])
			}
			got = append(got, rec.Position)
		}
	}
	return got, nil
}

// TestTheRebuildReadsEveryEventOnceInOrder: whatever the positions look like
// (without gaps, with gaps from the start, without gaps and then with),
// whatever size of pages the store answers, and wherever the rebuild stops,
// the pages read ahead hand over every event up to there once, in order.
func TestTheRebuildReadsEveryEventOnceInOrder(t *testing.T) {
	defer func(n int) { rebuildPage = n }(rebuildPage)
	rebuildPage = 4
	const n = 103
	base := ledgerOf(t, n)
	mapping := func(f func(i int) domain.Position) []domain.Position {
		at := make([]domain.Position, n)
		for i := range at {
			at[i] = f(i)
		}
		return at
	}
	dense := mapping(func(i int) domain.Position { return domain.Position(i + 1) })
	gapped := mapping(func(i int) domain.Position { return domain.Position(3*i + 7) })
	denseThenGapped := mapping(func(i int) domain.Position {
		if i < 30 {
			return domain.Position(i + 1)
		}
		return domain.Position(30 + 5*(i-29))
	})
	gappedOnce := mapping(func(i int) domain.Position {
		if i < 10 {
			return domain.Position(i + 1)
		}
		return domain.Position(i + 100)
	})
	pages := (n + rebuildPage - 1) / rebuildPage
	for _, tc := range []struct {
		name            string
		at              []domain.Position
		short           int
		shortFrom       domain.Position
		wantReadsAtMost int // up to the last event
	}{
		{"without gaps", dense, 0, 0, pages},
		{"with gaps", gapped, 0, 0, pages + 1},
		{"without gaps, then with", denseThenGapped, 0, 0, 2 * pages},
		{"one gap", gappedOnce, 0, 0, 2 * pages},
		{"short pages from the start", dense, 3, 0, 2 * pages},
		{"short pages later on", dense, 3, 40, 2 * pages},
		{"short pages later on, one gap", gappedOnce, 1, 60, 5 * pages},
	} {
		for _, upTo := range []domain.Position{tc.at[n-1], tc.at[n-1] + 50, tc.at[57], tc.at[57] - 1, tc.at[3], tc.at[0]} {
			t.Run(fmt.Sprintf("%s/up to %d", tc.name, upTo), func(t *testing.T) {
				s := &remapped{EventStore: base, at: tc.at, short: tc.short, shortFrom: tc.shortFrom}
				got, err := handedOver(t, s, upTo)
				if err != nil {
					t.Fatal(err)
				}
				var want []domain.Position
				for _, p := range tc.at {
					if p <= upTo {
						want = append(want, p)
					}
				}
				if !slices.Equal(got, want) {
					t.Fatalf("handed over %v\nwant        %v", got, want)
				}
				// A wrong guess costs a few reads, not a read per event.
				if reads := s.reads.Load(); upTo == tc.at[n-1] && reads > int64(tc.wantReadsAtMost) {
					t.Fatalf("%d reads, want at most %d", reads, tc.wantReadsAtMost)
				}
			})
		}
	}
}

// TestTheRebuildStopsAtAReadError: a failed read of a page read ahead ends
// the pages with its error, after the events before it.
func TestTheRebuildStopsAtAReadError(t *testing.T) {
	defer func(n int) { rebuildPage = n }(rebuildPage)
	rebuildPage = 4
	base := ledgerOf(t, 40)
	at := make([]domain.Position, 40)
	for i := range at {
		at[i] = domain.Position(i + 1)
	}
	got, err := handedOver(t, &remapped{EventStore: base, at: at, failFrom: 21}, 40)
	if !errors.Is(err, errRead) {
		t.Fatalf("ended with %v, want the read's error", err)
	}
	if len(got) != 20 || got[19] != 20 {
		t.Fatalf("handed over %v before the error, want 1..20", got)
	}
}
