package pebblestore

// The tail: the events committed last, kept decoded in memory. The ledger's
// live subscribers (the pipeline's fold, the sealer) read a few events after
// each commit; from the tables each such read paid an iterator's creation,
// a seek and a copy, which profiles put at 8% of the whole process's CPU in
// the throughput scenario. Their subscriptions take them from here instead.
// A subscriber further behind reads the tables, and so does every ReadAll
// (verify, export, the API): what they check is what is on disk.

import (
	"sync"
	"time"

	"github.com/hookledger/hookledger/domain"
)

const (
	tailEvents = 1 << 12 // at most this many events (a power of two)
	tailBytes  = 4 << 20 // and about this many bytes of data and metadata
)

// tail is a ring of the last committed events, indexed by position
// (positions are dense: one per event). Its byte slices are never written
// after they are added: readers share them.
type tail struct {
	mu    sync.RWMutex
	ring  []domain.RecordedEvent
	first domain.Position // the oldest position held (next when empty)
	next  domain.Position // one past the newest
	bytes int
}

func newTail(head domain.Position) *tail {
	return &tail{ring: make([]domain.RecordedEvent, tailEvents), first: head + 1, next: head + 1}
}

// add appends the events of one commit, which follow the newest held.
func (t *tail) add(evs []domain.RecordedEvent) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, ev := range evs {
		if ev.Position != t.next { // cannot happen: the committer is the only writer
			t.first, t.bytes = ev.Position, 0
		}
		// Make room first: the new event's slot is the oldest's when full.
		for t.next-t.first >= tailEvents || (t.bytes+len(ev.Data)+len(ev.Metadata) > tailBytes && t.next > t.first) {
			t.evictOldest()
		}
		t.ring[uint64(ev.Position)&(tailEvents-1)] = ev
		t.next = ev.Position + 1
		t.bytes += len(ev.Data) + len(ev.Metadata)
	}
}

func (t *tail) evictOldest() {
	old := &t.ring[uint64(t.first)&(tailEvents-1)]
	t.bytes -= len(old.Data) + len(old.Metadata)
	*old = domain.RecordedEvent{}
	t.first++
}

// read returns up to max events from position from, if the tail holds from
// (ok false: read the tables), in page (its contents replaced) when it has
// room for them.
func (t *tail) read(page []domain.RecordedEvent, from domain.Position, max int) ([]domain.RecordedEvent, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if from < t.first || from >= t.next {
		return nil, false
	}
	n := min(int(t.next-from), max)
	if cap(page) < n {
		page = make([]domain.RecordedEvent, n)
	}
	if n < len(page) {
		clear(page[n:]) // it would keep older events' bodies alive
	}
	page = page[:n]
	for i := range page {
		page[i] = t.ring[uint64(from+domain.Position(i))&(tailEvents-1)]
	}
	return page, true
}

// tailEventsOf builds the tail's events of a commit. They share the
// appenders' data and metadata, which the port lets a store keep
// (domain.EventStore.Append): copying them was 7% of the bytes a
// delivery allocates.
func tailEventsOf(reqs []*appendReq, created int64) []domain.RecordedEvent {
	n := 0
	for _, r := range reqs {
		for _, p := range r.parts {
			n += len(p.events)
		}
	}
	out := make([]domain.RecordedEvent, 0, n)
	at := time.Unix(0, created).UTC()
	for _, r := range reqs {
		for _, p := range r.parts {
			pos := p.res.Position - domain.Position(len(p.events)-1)
			rev := p.res.Revision - uint64(len(p.events)-1)
			for i := range p.events {
				e := &p.events[i]
				out = append(out, domain.RecordedEvent{ID: e.ID, Stream: p.stream, Revision: rev + uint64(i), Position: pos + domain.Position(i),
					Type: e.Type, Data: shared(e.Data), Metadata: shared(e.Metadata), Created: at})
			}
		}
	}
	return out
}

// shared is b as a reader may hold it: nil when empty, as the tables give
// it, and without capacity past its end, so that a reader's append copies
// rather than writes into the appender's buffer.
func shared(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b[:len(b):len(b)]
}
