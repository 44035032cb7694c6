package pipeline

// The due queue: which open delivery goes next. Every open delivery is in
// the view store's open index (by subscription, then due time); the queue
// holds in memory only a window of each subscription's soonest-due ones, and
// reads more from the index when a window runs low. Memory is bounded by
// window x subscriptions (configuration), never by the backlog or the
// history: a paused subscription with millions pending holds nothing.
//
// Subscriptions take turns by their soonest entry (a heap of heads), so one
// subscription's backlog cannot crowd the others out of memory. A
// subscription can be parked (paused, disabled: nothing in memory until it
// is unparked), blocked (its concurrency limit is reached: out of the turn
// until a slot frees) or held until a time (rate limit, endpoint slow-down).

import (
	"container/heap"
	"sort"
	"time"
)

// dueKey orders entries: due time, then delivery id.
type dueKey struct {
	due time.Time
	id  string
}

func (a dueKey) less(b dueKey) bool {
	if !a.due.Equal(b.due) {
		return a.due.Before(b.due)
	}
	return a.id < b.id
}

// openIndex reads a subscription's open deliveries in due order from (due,
// id) on, committed state only (the view store; an in-memory fallback for
// views without one).
type openIndex interface {
	OpenDue(sub string, due time.Time, id string, fn func(due time.Time, id string, attempting bool) bool)
}

type subQueue struct {
	sub     string
	entries []dueKey // sorted, at most window
	in      map[string]dueKey
	// spilled: the index may hold entries at or after horizon that are not
	// in memory. Everything before horizon is in memory (or in flight).
	spilled bool
	horizon dueKey
	parked  bool
	blocked bool
	// notBefore holds the whole subscription (pacing).
	notBefore time.Time
	// draining: the subscription is deleted and every entry is due at
	// lastTurn, the time of its last turn (see drain).
	draining bool
	lastTurn time.Time
	gen      uint64 // heap entries of older generations are stale
}

// head is when the subscription's next delivery may go.
func (q *subQueue) head() (time.Time, bool) {
	if len(q.entries) == 0 || q.parked || q.blocked {
		return time.Time{}, false
	}
	at := q.entries[0].due
	if q.draining {
		if q.lastTurn.Before(at) {
			at = q.lastTurn
		}
		return at, true
	}
	if q.notBefore.After(at) {
		at = q.notBefore
	}
	return at, true
}

type headEntry struct {
	at  time.Time
	sub string
	gen uint64
}

type headHeap []headEntry

func (h headHeap) Len() int { return len(h) }
func (h headHeap) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].sub < h[j].sub
}
func (h headHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *headHeap) Push(x any)   { *h = append(*h, x.(headEntry)) }
func (h *headHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// dueQueue is not safe for concurrent use: the runner calls it under its lock.
type dueQueue struct {
	window int
	index  openIndex
	// beforeRead makes the index current (commits the views) before a read.
	beforeRead func()
	subs       map[string]*subQueue
	heads      headHeap
}

func newDueQueue(window int, index openIndex, beforeRead func()) *dueQueue {
	return &dueQueue{window: window, index: index, beforeRead: beforeRead, subs: map[string]*subQueue{}}
}

func (dq *dueQueue) sub(sub string) *subQueue {
	q := dq.subs[sub]
	if q == nil {
		q = &subQueue{sub: sub, in: map[string]dueKey{}}
		dq.subs[sub] = q
	}
	return q
}

// touch re-files a subscription's turn after its head changed.
func (dq *dueQueue) touch(q *subQueue) {
	q.gen++
	if at, ok := q.head(); ok {
		heap.Push(&dq.heads, headEntry{at: at, sub: q.sub, gen: q.gen})
	}
	if len(q.entries) == 0 && !q.spilled && !q.parked && !q.blocked && q.notBefore.IsZero() {
		delete(dq.subs, q.sub) // nothing left: forget it
	}
}

// push files an open, dispatchable delivery due at due (replacing its
// previous entry).
func (dq *dueQueue) push(sub, id string, due time.Time) {
	q := dq.sub(sub)
	if old, ok := q.in[id]; ok {
		q.remove(old)
	}
	k := dueKey{due: due, id: id}
	if q.spilled && !k.less(q.horizon) {
		dq.touch(q) // in the index: read when the window gets there
		return
	}
	i := sort.Search(len(q.entries), func(i int) bool { return k.less(q.entries[i]) })
	q.entries = append(q.entries, dueKey{})
	copy(q.entries[i+1:], q.entries[i:])
	q.entries[i] = k
	q.in[id] = k
	if len(q.entries) > dq.window {
		last := q.entries[len(q.entries)-1]
		q.remove(last)
		if !q.spilled || last.less(q.horizon) {
			q.horizon = last
		}
		q.spilled = true
	}
	dq.touch(q)
}

func (q *subQueue) remove(k dueKey) {
	delete(q.in, k.id)
	i := sort.Search(len(q.entries), func(i int) bool { return !q.entries[i].less(k) })
	if i < len(q.entries) && q.entries[i] == k {
		q.entries = append(q.entries[:i], q.entries[i+1:]...)
	}
}

// forget drops a delivery's entry (it is in flight or final).
func (dq *dueQueue) forget(sub, id string) {
	if q := dq.subs[sub]; q != nil {
		if k, ok := q.in[id]; ok {
			q.remove(k)
			dq.touch(q)
		}
	}
}

// next returns the subscription whose turn it is and its soonest entry, if
// one may go at now; otherwise when to look again (zero: nothing queued).
// The entry stays queued: take it with forget, or hold the subscription.
func (dq *dueQueue) next(now time.Time) (sub string, k dueKey, ok bool, wake time.Time) {
	for dq.heads.Len() > 0 {
		top := dq.heads[0]
		q := dq.subs[top.sub]
		if q == nil || q.gen != top.gen {
			heap.Pop(&dq.heads)
			continue
		}
		if top.at.After(now) {
			return "", dueKey{}, false, top.at
		}
		if len(q.entries) <= dq.window/2 && q.spilled {
			dq.refill(q)
			if at, ok := q.head(); !ok || !at.Equal(top.at) {
				continue // re-filed by refill
			}
		}
		return q.sub, q.entries[0], true, time.Time{}
	}
	return "", dueKey{}, false, time.Time{}
}

// refill reads a subscription's window from the index, from its horizon.
func (dq *dueQueue) refill(q *subQueue) {
	if dq.beforeRead != nil {
		dq.beforeRead()
	}
	from := q.horizon
	q.spilled = false
	more := false
	dq.index.OpenDue(q.sub, from.due, from.id, func(due time.Time, id string, attempting bool) bool {
		if attempting {
			return true // in flight: its outcome files it again
		}
		k := dueKey{due: due, id: id}
		if _, ok := q.in[id]; ok {
			return true
		}
		if len(q.entries) >= dq.window {
			q.horizon, more = k, true
			return false
		}
		q.entries = append(q.entries, k) // index order: sorted after the horizon
		q.in[id] = k
		return true
	})
	sortKeys(q.entries)
	q.spilled = more
	dq.touch(q)
}

// load files a subscription's soonest entries from the index (at start-up).
func (dq *dueQueue) load(sub string) {
	q := dq.sub(sub)
	q.spilled, q.horizon = true, dueKey{}
	dq.refill(q)
}

// park forgets a subscription's entries until unpark (paused, disabled).
func (dq *dueQueue) park(sub string) {
	q := dq.sub(sub)
	q.entries, q.in = nil, map[string]dueKey{}
	q.spilled, q.horizon, q.parked = true, dueKey{}, true
	dq.touch(q)
}

// unpark reads a parked subscription's window again.
func (dq *dueQueue) unpark(sub string) {
	q := dq.subs[sub]
	if q == nil || !q.parked {
		return
	}
	q.parked = false
	dq.refill(q)
}

func (dq *dueQueue) parked(sub string) bool {
	q := dq.subs[sub]
	return q != nil && q.parked
}

// drain makes every open entry of a deleted subscription due now, whatever
// its due time (a retry hours away included): each goes out to be
// cancelled. The subscription takes its turns like the others, at the time
// of its last turn (turn), so deliveries that were due before it go first
// and a large backlog of cancellations takes the spare turns, not all of
// them. Parked entries are read again. The mark goes with the entries: a
// delivery filed later is drained by calling drain again.
func (dq *dueQueue) drain(sub string, now time.Time) {
	q := dq.sub(sub)
	if !q.draining {
		q.draining, q.lastTurn = true, now
	}
	q.notBefore = time.Time{}
	if q.parked {
		q.parked = false
		q.spilled, q.horizon = true, dueKey{}
	}
	if q.spilled && len(q.entries) == 0 {
		dq.refill(q) // nothing in memory to take a turn with
		return
	}
	dq.touch(q)
}

// turn moves a draining subscription's turn to now, after one of its
// entries went (no-op otherwise).
func (dq *dueQueue) turn(sub string, now time.Time) {
	if q := dq.subs[sub]; q != nil && q.draining {
		q.lastTurn = now
	}
}

// block takes a subscription out of the turn (its concurrency limit is
// reached); unblock puts it back.
func (dq *dueQueue) block(sub string) {
	q := dq.sub(sub)
	q.blocked = true
	dq.touch(q)
}

func (dq *dueQueue) unblock(sub string) {
	if q := dq.subs[sub]; q != nil && q.blocked {
		q.blocked = false
		dq.touch(q)
	}
}

func (dq *dueQueue) blocked(sub string) bool {
	q := dq.subs[sub]
	return q != nil && q.blocked
}

// holdUntil keeps a subscription's deliveries until t (pacing).
func (dq *dueQueue) holdUntil(sub string, t time.Time) {
	q := dq.sub(sub)
	q.notBefore = t
	dq.touch(q)
}

// size is how many entries the queue holds in memory.
func (dq *dueQueue) size() int {
	n := 0
	for _, q := range dq.subs {
		n += len(q.entries)
	}
	return n
}

func sortKeys(ks []dueKey) { sort.Slice(ks, func(i, j int) bool { return ks[i].less(ks[j]) }) }
