package pipeline

// The dispatcher: due deliveries are taken from the due queue (duequeue.go)
// subscription by subscription and handed to workers within the global and
// per-subscription limits; deliveries of paused or disabled subscriptions
// wait in the view store's open index, not in memory.

import (
	"context"
	"slices"
	"time"

	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
)

func dispatchable(s domain.DeliveryStatus) bool {
	return s == domain.DeliveryStatusPending || s == domain.DeliveryStatusFailed
}

// requeueLocked files a delivery whose state changed, unless a worker still
// owns it and the view has not yet seen that worker's events.
func (r *Runner) requeueLocked(id string) {
	d := r.views.Delivery(id)
	if d == nil {
		return
	}
	if need, ok := r.inflight[id]; ok {
		if d.Version < need {
			return
		}
		delete(r.inflight, id)
	}
	sv := r.views.Subscriptions[d.SubscriptionID]
	if isFIFO(sv) {
		if projections.IsOpen(d.Status) {
			r.fifoTrackLocked(d)
		} else {
			delete(r.waitReason, id)
			r.fifoNextLocked(d.SubscriptionID) // the head is final: the next goes
			return
		}
	}
	if dispatchable(d.Status) {
		r.queue.push(d.SubscriptionID, id, d.NextDueAt)
		if sv != nil && sv.Status == domain.StatusDeleted {
			r.drainLocked(d.SubscriptionID) // e.g. an attempt in flight at the deletion
		}
		return
	}
	r.queue.forget(d.SubscriptionID, id)
	delete(r.waitReason, id)
}

func (r *Runner) unparkLocked(sub string) {
	if r.ownsLocked(sub) {
		r.queue.unpark(sub)
	}
}

// drainLocked sends a deleted subscription's open deliveries out to be
// cancelled now rather than each at its due time, so that a deletion ends
// them all (dueQueue.drain), retries hours away included.
func (r *Runner) drainLocked(sub string) {
	if r.ownsLocked(sub) {
		r.queue.drain(sub, r.clock.Now())
	}
}

// rebuildQueue files, at start-up, the soonest-due window of every
// subscription with open deliveries (FIFO subscriptions read their order
// window when first asked for their head).
func (r *Runner) rebuildQueue() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.queue = newDueQueue(r.opts.QueueWindow, r.openIndex(), r.commitForRead)
	r.fifo = map[string]*fifoQueue{}
	for id, sv := range r.views.Subscriptions {
		if sv.Open == 0 {
			continue
		}
		if isFIFO(sv) {
			// Empty and spilled from the start: the first head read
			// fills the window from the order index.
			r.fifo[id] = &fifoQueue{in: map[string]bool{}, spilled: true}
		}
		switch {
		case sv.Status == domain.StatusPaused || sv.Status == domain.StatusDisabled || !r.ownsLocked(id):
			r.queue.park(id)
		case sv.Status == domain.StatusDeleted:
			r.queue.park(id)
			r.drainLocked(id) // a deletion the last run did not finish
		default:
			r.queue.load(id)
		}
	}
	r.kick()
}

// commitForRead commits the views before the due queue reads the open
// index (called with the lock held).
func (r *Runner) commitForRead() {
	if err := r.commitLocked(); err != nil {
		r.log.Error().Err(err).Msg("views not committed before reading the open index")
	}
}

// dispatch hands due deliveries to workers until ctx ends.
func (r *Runner) dispatch(ctx context.Context) {
	for {
		r.mu.Lock()
		now := r.clock.Now()
		var wake time.Time
		// Backpressure: a dispatch stays marked in flight until the fold
		// has seen its attempt's events; when the fold lags that far
		// behind the workers, wait for it rather than run ahead.
		for r.active < r.opts.Workers && len(r.inflight) < r.maxInFlight() {
			sub, k, ok, next := r.queue.next(now)
			if !ok {
				wake = next
				break
			}
			r.dispatchOneLocked(sub, k.id, now)
		}
		var timer <-chan time.Time
		if !wake.IsZero() && r.active < r.opts.Workers && len(r.inflight) < r.maxInFlight() {
			timer = r.clock.After(wake.Sub(now))
		}
		r.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		case <-timer:
		}
	}
}

// maxInFlight bounds the dispatches whose events the fold has not seen yet.
func (r *Runner) maxInFlight() int { return 4 * r.opts.Workers }

// dispatchOneLocked decides about the soonest entry of sub: send it, cancel
// it, or hold it (and why).
func (r *Runner) dispatchOneLocked(sub, id string, now time.Time) {
	d := r.views.Delivery(id)
	if d == nil || !dispatchable(d.Status) || d.SubscriptionID != sub {
		r.queue.forget(sub, id)
		return
	}
	if _, busy := r.inflight[id]; busy {
		r.queue.forget(sub, id)
		return
	}
	sv := r.views.Subscriptions[sub]
	if sv == nil {
		r.queue.forget(sub, id)
		return
	}
	if d.NextDueAt.After(now) && sv.Status != domain.StatusDeleted { // its due time moved: file it again
		r.queue.push(sub, id, d.NextDueAt)
		return
	}
	if !r.ownsLocked(sub) {
		r.queue.park(sub) // its partition's owner dispatches it
		return
	}
	j := job{delivery: *d, sub: *sv}
	switch sv.Status {
	case domain.StatusDeleted:
		j.cancel = true
	case domain.StatusPaused, domain.StatusDisabled:
		r.queue.park(sub) // until the resume (unparkLocked)
		return
	}
	if !j.cancel && isFIFO(sv) && !r.fifoMayGoLocked(d, sv) {
		// Held outside the due queue: it is filed again when it becomes
		// the head (fifoNextLocked).
		r.fifoTrackLocked(d)
		r.waitReason[d.ID] = WaitOrdering
		r.queue.forget(sub, id)
		return
	}
	if !j.cancel && r.running[sub] >= r.opts.PerSubscription {
		r.queue.block(sub) // until a slot frees (finish)
		return
	}
	if !j.cancel {
		if wait, why := r.paceLocked(sv, now); wait > 0 {
			r.held[sub] = hold{why: why, until: now.Add(wait)}
			r.queue.holdUntil(sub, now.Add(wait))
			return
		}
	}
	delete(r.held, sub)
	if j.cancel {
		r.queue.turn(sub, now) // the others' due deliveries go before its next
	}
	r.queue.forget(sub, id)
	delete(r.waitReason, id)
	r.inflight[id] = d.Version + 1
	r.running[sub]++
	r.active++
	r.jobs <- j // never blocks: capacity is Workers and active < Workers
}

// hold is why a subscription's due deliveries wait, and until when.
type hold struct {
	why   string
	until time.Time
}

// finish releases a worker's slots and lets the subscription take turns again.
func (r *Runner) finish(j job) {
	r.mu.Lock()
	sub := j.sub.ID
	r.running[sub]--
	if r.running[sub] <= 0 {
		delete(r.running, sub)
	}
	r.active--
	if isFIFO(r.views.Subscriptions[sub]) {
		r.fifoNextLocked(sub)
	}
	r.queue.unblock(sub)
	r.mu.Unlock()
	r.kick()
}

// release forgets a dispatch that appended nothing, so the delivery can be
// taken again once due (after a short pause, to not spin on a failing store).
func (r *Runner) release(id string, retryIn time.Duration) {
	r.mu.Lock()
	delete(r.inflight, id)
	if d := r.views.Delivery(id); d != nil && dispatchable(d.Status) {
		r.queue.push(d.SubscriptionID, id, r.clock.Now().Add(retryIn))
	}
	r.mu.Unlock()
	r.kick()
}

// memIndex reads open deliveries from in-memory records (views without a
// view store: tests), by scanning them.
type memIndex struct{ recs projections.Records }

func (m memIndex) OpenDue(sub string, due time.Time, id string, fn func(time.Time, string, bool) bool) {
	var keys []dueKey
	attempting := map[string]bool{}
	m.recs.OpenDeliveries(func(d *projections.DeliveryView) bool {
		k := dueKey{due: d.NextDueAt, id: d.ID}
		if d.SubscriptionID == sub && !k.less(dueKey{due: due, id: id}) {
			keys = append(keys, k)
			attempting[d.ID] = d.Status == domain.DeliveryStatusAttempting
		}
		return true
	})
	sortKeys(keys)
	for _, k := range keys {
		if !fn(k.due, k.id, attempting[k.id]) {
			return
		}
	}
}

func (m memIndex) OpenInOrder(sub string, pos domain.Position, id string, fn func(domain.Position, string) bool) {
	var keys []fifoEntry
	m.recs.OpenDeliveries(func(d *projections.DeliveryView) bool {
		k := fifoEntry{pos: d.MessagePosition, id: d.ID}
		if d.SubscriptionID == sub && !k.less(fifoEntry{pos: pos, id: id}) {
			keys = append(keys, k)
		}
		return true
	})
	slices.SortFunc(keys, compareFIFO)
	for _, k := range keys {
		if !fn(k.pos, k.id) {
			return
		}
	}
}

func (m memIndex) Attempting(fn func(id string) bool) {
	m.recs.OpenDeliveries(func(d *projections.DeliveryView) bool {
		if d.Status == domain.DeliveryStatusAttempting {
			return fn(d.ID)
		}
		return true
	})
}

// indexes are the open deliveries' two orders, due (the due queue) and
// publish (FIFO windows, the backlog's oldest), and the attempts in flight
// (crash recovery).
type indexes interface {
	openIndex
	orderIndex
	attemptIndex
}

// openIndex is where the due queue and the FIFO windows read open
// deliveries.
func (r *Runner) openIndex() indexes {
	if r.opts.ViewStore != nil {
		return r.opts.ViewStore
	}
	return memIndex{recs: r.views.Records()}
}
