package pipeline

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"

	"github.com/hookledger/hookledger/domain"
)

// rebuildPage is how many events a rebuild reads at a time (tests make it
// small).
var rebuildPage = 2048

// rebuildAhead is how many decoded pages may wait for the fold: enough for
// the readers to go on while the fold stops to encode a commit (tens of
// milliseconds), a few MiB each. With 2 instead, the readers stopped too:
// rebuilds 6% slower (docs/benchmarks.md).
const rebuildAhead = 8

type decodedPage struct {
	recs   []domain.RecordedEvent
	events []domain.Event
	err    error
}

// decodedPages reads $all from position 0 up to upTo and decodes it ahead of
// the fold, on other goroutines (as many pages at once as there are CPUs),
// handing the events over in order, each once. The channel closes after the
// last page or the first error.
//
// Reading one page after another, the reader was a rebuild's slowest step:
// the fold waited for pages 40% of the time while a core sat partly idle.
// So when the first page shows positions without gaps (the embedded and
// memory stores number events 1, 2, 3 ...), the pages after it are read at
// once, each from the position it would start at. A guess can be wrong (a
// store whose positions have gaps, or that answers a short page before the
// end); that costs reads, never an event: the joiner drops what a page
// repeats, reads a hole between two pages before going on, and stops the
// guessing.
func decodedPages(ctx context.Context, store domain.EventStore, upTo domain.Position) <-chan decodedPage {
	out := make(chan decodedPage, rebuildAhead)
	workers := max(1, runtime.GOMAXPROCS(0))
	page := rebuildPage
	go func() {
		defer close(out)
		j := &joiner{ctx: ctx, store: store, upTo: upTo, page: page, out: out}
		reads := make(chan pageRead, workers) // in order of position
		go readAhead(ctx, store, upTo, page, reads, &j.guessWrong)
		for r := range reads {
			if !j.join(r.from, <-r.done) {
				return
			}
		}
		j.finish()
	}()
	return out
}

// pageRead is a page being read and decoded from position from.
type pageRead struct {
	from domain.Position
	done chan decodedPage
}

// readAhead starts the reads of $all up to upTo, in order of position, and
// closes reads after the last one, after an error or once guessWrong is
// set (the joiner reads the rest).
func readAhead(ctx context.Context, store domain.EventStore, upTo domain.Position, size int, reads chan<- pageRead, guessWrong *atomic.Bool) {
	defer close(reads)
	send := func(r pageRead) bool {
		select {
		case reads <- r:
			return true
		case <-ctx.Done():
			return false
		}
	}
	from, guess := domain.Position(0), false
	for from <= upTo {
		r := pageRead{from: from, done: make(chan decodedPage, 1)}
		if guess {
			if guessWrong.Load() {
				return
			}
			go func() { r.done <- readPage(ctx, store, r.from, upTo, size) }()
			if !send(r) {
				return
			}
			from += domain.Position(size)
			continue
		}
		page, err := store.ReadAll(ctx, from, size)
		if err != nil {
			r.done <- decodedPage{err: err}
			send(r)
			return
		}
		whole := len(page)
		page = upToCut(page, upTo)
		go func() { r.done <- decodePage(page) }()
		if !send(r) || len(page) == 0 || len(page) < whole {
			return
		}
		last := page[len(page)-1].Position
		guess = len(page) == size && last-page[0].Position == domain.Position(size-1)
		from = last + 1
	}
}

// readPage reads and decodes one page of $all from position from.
func readPage(ctx context.Context, store domain.EventStore, from, upTo domain.Position, size int) decodedPage {
	page, err := store.ReadAll(ctx, from, size)
	if err != nil {
		return decodedPage{err: err}
	}
	return decodePage(upToCut(page, upTo))
}

// upToCut leaves out the events after upTo.
func upToCut(page []domain.RecordedEvent, upTo domain.Position) []domain.RecordedEvent {
	cut := len(page)
	for cut > 0 && page[cut-1].Position > upTo {
		cut--
	}
	return page[:cut]
}

func decodePage(recs []domain.RecordedEvent) decodedPage {
	pg := decodedPage{recs: recs, events: make([]domain.Event, len(recs))}
	for i, rec := range recs {
		ev, err := domain.DecodeEventWithoutBody(rec) // the views keep no body
		if err != nil {
			pg.err = fmt.Errorf("fold position %d: %w", rec.Position, err)
			break
		}
		pg.events[i] = ev
	}
	return pg
}

// joiner hands pages over in order, each event once, whatever the pages
// read ahead guessed.
type joiner struct {
	ctx        context.Context
	store      domain.EventStore
	upTo       domain.Position
	page       int
	out        chan<- decodedPage
	want       domain.Position // the events handed over are those before it
	guessWrong atomic.Bool
}

// join hands over pg, read from position from. It answers false once the
// rebuild is to stop (an error handed over, or ctx ended).
func (j *joiner) join(from domain.Position, pg decodedPage) bool {
	if pg.err == nil && from > j.want {
		// A hole: the page before ended short of where this one was
		// guessed to start.
		j.guessWrong.Store(true)
		if !j.readInOrder(from) {
			return false
		}
	}
	if pg.err == nil {
		skip := 0
		for skip < len(pg.recs) && pg.recs[skip].Position < j.want {
			skip++ // handed over already
		}
		if skip > 0 {
			j.guessWrong.Store(true)
			pg.recs, pg.events = pg.recs[skip:], pg.events[skip:]
		}
		if len(pg.recs) == 0 {
			return true
		}
	}
	return j.send(pg)
}

// finish reads in order whatever the pages read ahead left out.
func (j *joiner) finish() {
	if j.ctx.Err() == nil && j.want <= j.upTo {
		j.readInOrder(j.upTo + 1)
	}
}

// readInOrder reads and hands over the events from j.want up to before,
// one page after another.
func (j *joiner) readInOrder(before domain.Position) bool {
	for j.want < before {
		page, err := j.store.ReadAll(j.ctx, j.want, j.page)
		if err != nil {
			return j.send(decodedPage{err: err})
		}
		whole := len(page)
		page = upToCut(page, min(before-1, j.upTo))
		if len(page) > 0 && !j.send(decodePage(page)) {
			return false
		}
		if len(page) == 0 || len(page) < whole {
			return true // nothing more before it
		}
	}
	return true
}

func (j *joiner) send(pg decodedPage) bool {
	select {
	case j.out <- pg:
	case <-j.ctx.Done():
		return false
	}
	if pg.err != nil {
		return false
	}
	j.want = pg.recs[len(pg.recs)-1].Position + 1
	return true
}
