package pipeline

// FIFO subscriptions: one delivery at a time, in publish order. Each FIFO
// subscription keeps a window of its earliest open deliveries by message
// position (at most 2 x QueueWindow in memory; the rest wait in the view
// store's order index, read again when the window empties); only the head
// may be dispatched, the others wait (waiting_reason "ordering") outside the
// due queue, and the next head is queued when the head becomes final. A head
// that fails holds the ones behind it through its retries until it is
// acknowledged or given up. A message whose fan-out is not finished may
// still schedule a delivery to the subscription, so nothing published after
// it goes before it is done.

import (
	"cmp"
	"container/heap"
	"slices"
	"strings"

	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
)

// WaitOrdering: a FIFO subscription's delivery behind an earlier one.
const WaitOrdering = "ordering"

type fifoEntry struct {
	pos domain.Position // the message's
	id  string
}

func (a fifoEntry) less(b fifoEntry) bool { return compareFIFO(a, b) < 0 }

// compareFIFO orders entries by message position, then delivery id.
func compareFIFO(a, b fifoEntry) int {
	if a.pos != b.pos {
		return cmp.Compare(a.pos, b.pos)
	}
	return strings.Compare(a.id, b.id)
}

type fifoHeap []fifoEntry

func (h fifoHeap) Len() int           { return len(h) }
func (h fifoHeap) Less(i, j int) bool { return h[i].less(h[j]) }
func (h fifoHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *fifoHeap) Push(x any)        { *h = append(*h, x.(fifoEntry)) }
func (h *fifoHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// fifoQueue is one FIFO subscription's window. When spilled, open
// deliveries after horizon may be in the order index only; everything
// before it that is open is in the heap.
type fifoQueue struct {
	heap    fifoHeap
	in      map[string]bool
	spilled bool
	horizon fifoEntry
}

// orderIndex reads a subscription's open deliveries in publish order
// (message position, then id) from (pos, id) on, committed state only: the
// FIFO window's source.
type orderIndex interface {
	OpenInOrder(sub string, pos domain.Position, id string, fn func(pos domain.Position, id string) bool)
}

func isFIFO(sv *projections.SubscriptionView) bool {
	return sv != nil && sv.Ordering == domain.OrderingFIFO
}

// fifoQueueLocked is sub's window, created empty.
func (r *Runner) fifoQueueLocked(sub string) *fifoQueue {
	q := r.fifo[sub]
	if q == nil {
		q = &fifoQueue{in: map[string]bool{}}
		r.fifo[sub] = q
	}
	return q
}

// fifoTrackLocked adds an open delivery of a FIFO subscription to its
// window, unless it falls past a spilled window's horizon (the order index
// has it; the window reads it when it gets there).
func (r *Runner) fifoTrackLocked(d *projections.DeliveryView) {
	q := r.fifoQueueLocked(d.SubscriptionID)
	e := fifoEntry{pos: d.MessagePosition, id: d.ID}
	if q.in[d.ID] || (q.spilled && q.horizon.less(e)) {
		return
	}
	q.in[d.ID] = true
	heap.Push(&q.heap, e)
	if w := r.opts.QueueWindow; len(q.heap) > 2*w {
		q.spill(w)
	}
}

// spill keeps the earliest keep entries and marks the window spilled at the
// last one kept.
func (q *fifoQueue) spill(keep int) {
	slices.SortFunc(q.heap, compareFIFO)
	for _, e := range q.heap[keep:] {
		delete(q.in, e.id)
	}
	q.heap = slices.Clip(q.heap[:keep]) // sorted is a valid heap
	q.horizon, q.spilled = q.heap[keep-1], true
}

// fifoRefillLocked reads the next window of a spilled queue from the order
// index (committed first, so that it holds every open delivery).
func (r *Runner) fifoRefillLocked(sub string, q *fifoQueue) {
	r.commitForRead()
	w := r.opts.QueueWindow
	from, n := q.horizon, 0
	q.spilled = false
	r.openIndex().OpenInOrder(sub, from.pos, from.id, func(pos domain.Position, id string) bool {
		e := fifoEntry{pos: pos, id: id}
		if !from.less(e) {
			return true // the horizon itself was in the window
		}
		if d := r.views.Delivery(id); d == nil || !projections.IsOpen(d.Status) {
			return true
		}
		if n == w {
			q.spilled = true
			return false
		}
		if !q.in[id] {
			q.in[id] = true
			heap.Push(&q.heap, e)
		}
		q.horizon, n = e, n+1
		return true
	})
}

// fifoHeadLocked is the subscription's open delivery with the earliest
// message ("" when none): final deliveries are dropped from the top.
func (r *Runner) fifoHeadLocked(sub string) string {
	q := r.fifo[sub]
	if q == nil {
		return ""
	}
	for {
		for q.heap.Len() > 0 {
			top := q.heap[0]
			if d := r.views.Delivery(top.id); d != nil && projections.IsOpen(d.Status) {
				return top.id
			}
			heap.Pop(&q.heap)
			delete(q.in, top.id)
		}
		if !q.spilled {
			delete(r.fifo, sub)
			return ""
		}
		r.fifoRefillLocked(sub, q)
	}
}

// fifoMayGoLocked says whether d, of FIFO subscription sv, may be sent now:
// it is the head, nothing of the subscription is in flight, and no earlier
// message is still being fanned out.
func (r *Runner) fifoMayGoLocked(d *projections.DeliveryView, sv *projections.SubscriptionView) bool {
	if r.running[sv.ID] > 0 || r.fifoHeadLocked(sv.ID) != d.ID {
		return false
	}
	for pos := range r.fanPending {
		if pos < d.MessagePosition {
			return false
		}
	}
	return true
}

// fifoNextLocked queues the head of a FIFO subscription (after its previous
// head became final, or a fan-out before it finished).
func (r *Runner) fifoNextLocked(sub string) {
	if id := r.fifoHeadLocked(sub); id != "" {
		if d := r.views.Delivery(id); d != nil && dispatchable(d.Status) {
			if _, busy := r.inflight[id]; !busy {
				r.queue.push(sub, id, d.NextDueAt)
			}
		}
	}
}

// fifoReleaseAllLocked queues every FIFO subscription's head (a fan-out
// finished: a head held behind it may go).
func (r *Runner) fifoReleaseAllLocked() {
	for sub := range r.fifo {
		r.fifoNextLocked(sub)
	}
}

// HeldBehind names the delivery a held FIFO delivery waits for ("" when it
// is not held for ordering).
func (r *Runner) HeldBehind(deliveryID string) string {
	r.mu.Lock() // fifoHeadLocked drops final entries
	defer r.mu.Unlock()
	if r.waitReason[deliveryID] != WaitOrdering {
		return ""
	}
	d := r.views.Delivery(deliveryID)
	if d == nil {
		return ""
	}
	if head := r.fifoHeadLocked(d.SubscriptionID); head != deliveryID {
		return head
	}
	return ""
}
