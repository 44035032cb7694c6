package pipeline

// FIFO subscriptions: one delivery at a time, in publish order. Each FIFO
// subscription keeps a heap of its open deliveries by message position; only
// the head may be dispatched, the others wait (waiting_reason "ordering")
// outside the due queue, and the next head is queued when the head becomes
// final. A head that fails holds the ones behind it through its retries
// until it is acknowledged or given up. A message whose fan-out is not
// finished may still schedule a delivery to the subscription, so nothing
// published after it goes before it is done.

import (
	"container/heap"

	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
)

// WaitOrdering: a FIFO subscription's delivery behind an earlier one.
const WaitOrdering = "ordering"

type fifoEntry struct {
	pos domain.Position // the message's
	id  string
}

type fifoHeap []fifoEntry

func (h fifoHeap) Len() int { return len(h) }
func (h fifoHeap) Less(i, j int) bool {
	if h[i].pos != h[j].pos {
		return h[i].pos < h[j].pos
	}
	return h[i].id < h[j].id
}
func (h fifoHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *fifoHeap) Push(x any)   { *h = append(*h, x.(fifoEntry)) }
func (h *fifoHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

type fifoQueue struct {
	heap fifoHeap
	in   map[string]bool
}

func isFIFO(sv *projections.SubscriptionView) bool {
	return sv != nil && sv.Ordering == domain.OrderingFIFO
}

// fifoTrackLocked adds an open delivery of a FIFO subscription to its heap.
func (r *Runner) fifoTrackLocked(d *projections.DeliveryView) {
	q := r.fifo[d.SubscriptionID]
	if q == nil {
		q = &fifoQueue{in: map[string]bool{}}
		r.fifo[d.SubscriptionID] = q
	}
	if !q.in[d.ID] {
		q.in[d.ID] = true
		heap.Push(&q.heap, fifoEntry{pos: d.MessagePosition, id: d.ID})
	}
}

// fifoHeadLocked is the subscription's open delivery with the earliest
// message ("" when none): final deliveries are dropped from the top.
func (r *Runner) fifoHeadLocked(sub string) string {
	q := r.fifo[sub]
	if q == nil {
		return ""
	}
	for q.heap.Len() > 0 {
		top := q.heap[0]
		if d := r.views.Delivery(top.id); d != nil && projections.IsOpen(d.Status) {
			return top.id
		}
		heap.Pop(&q.heap)
		delete(q.in, top.id)
	}
	delete(r.fifo, sub)
	return ""
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
