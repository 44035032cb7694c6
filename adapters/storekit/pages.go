package storekit

import (
	"context"
	"errors"

	"github.com/hookledger/hookledger/domain"
)

// PageRing reads $all a page at a time for a long scan (rebuild, verify,
// export).
// From a store that reads into memory handed back (domain.PageReader) the
// pages go round a ring: each is read into again once the scan gives it
// back with Done. From any other store, or a wrapper whose ReadAllInto
// answers errors.ErrUnsupported, it reads with ReadAll.
//
// One goroutine reads; Done may be called from another.
type PageRing struct {
	store domain.EventStore
	paged domain.PageReader
	spare chan *domain.Page
}

// NewPageRing returns a ring of n pages over store: as many as can be
// between the reader and the scan at once (read, queued, being used), so
// that the reader never waits for a page the scan still needs.
func NewPageRing(store domain.EventStore, n int) *PageRing {
	return newPageRing(store, n, false)
}

// NewPageRingWithoutBodies is NewPageRing for a scan that never uses a
// message's body (a fold): its pages are domain.Page.WithoutBodies, so a
// store may leave the bodies out of them.
func NewPageRingWithoutBodies(store domain.EventStore, n int) *PageRing {
	return newPageRing(store, n, true)
}

func newPageRing(store domain.EventStore, n int, withoutBodies bool) *PageRing {
	r := &PageRing{store: store}
	if paged, ok := store.(domain.PageReader); ok {
		r.paged = paged
		r.spare = make(chan *domain.Page, n)
		for range n {
			r.spare <- &domain.Page{WithoutBodies: withoutBodies}
		}
	}
	return r
}

// Read returns up to max events of $all from from, as ReadAll does, and the
// page they live in (nil when they are ReadAll's own memory), to be given
// back with Done once nothing of them is used any more. It waits for a page
// to be given back when all n are out.
func (r *PageRing) Read(ctx context.Context, from domain.Position, max int) ([]domain.RecordedEvent, *domain.Page, error) {
	if r.paged != nil {
		var page *domain.Page
		select {
		case page = <-r.spare:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
		recs, err := r.paged.ReadAllInto(ctx, from, max, page)
		if !errors.Is(err, errors.ErrUnsupported) {
			return recs, page, err
		}
		r.paged = nil
	}
	recs, err := r.store.ReadAll(ctx, from, max)
	return recs, nil, err
}

// Done gives a page back to the ring (nil: nothing to give back).
func (r *PageRing) Done(page *domain.Page) {
	if page != nil {
		r.spare <- page
	}
}
