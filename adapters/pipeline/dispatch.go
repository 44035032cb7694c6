package pipeline

// The due queue and the dispatcher: open deliveries wait in a due-time
// heap, parked while their subscription is paused or disabled, and are handed
// to workers within the global and per-subscription limits.

import (
	"context"
	"time"

	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
)

func dispatchable(s domain.DeliveryStatus) bool {
	return s == domain.DeliveryStatusPending || s == domain.DeliveryStatusFailed
}

// requeueLocked queues a delivery whose state changed, unless a worker still
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
	if sv := r.views.Subscriptions[d.SubscriptionID]; isFIFO(sv) {
		if projections.IsOpen(d.Status) {
			r.fifoTrackLocked(d)
		} else {
			delete(r.waitReason, id)
			r.fifoNextLocked(d.SubscriptionID) // the head is final: the next goes
			return
		}
	}
	if dispatchable(d.Status) {
		r.queue.push(dueEntry{due: d.NextDueAt, id: id, version: d.Version})
	}
}

func (r *Runner) unparkLocked(sub string) {
	ids := r.parked[sub]
	delete(r.parked, sub)
	for _, id := range ids {
		r.requeueLocked(id)
	}
}

func (r *Runner) rebuildQueue() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.queue = r.queue[:0]
	r.parked = map[string][]string{}
	r.fifo = map[string]*fifoQueue{}
	r.views.Records().OpenDeliveries(func(d *projections.DeliveryView) bool {
		if isFIFO(r.views.Subscriptions[d.SubscriptionID]) {
			r.fifoTrackLocked(d)
		}
		if dispatchable(d.Status) {
			if _, busy := r.inflight[d.ID]; !busy {
				r.queue.push(dueEntry{due: d.NextDueAt, id: d.ID, version: d.Version})
			}
		}
		return true
	})
	r.kick()
}

// dispatch hands due deliveries to workers until ctx ends.
func (r *Runner) dispatch(ctx context.Context) {
	for {
		r.mu.Lock()
		now := r.clock.Now()
		for r.queue.Len() > 0 && r.active < r.opts.Workers {
			top := r.queue[0]
			if top.due.After(now) {
				break
			}
			r.queue.pop()
			d := r.views.Delivery(top.id)
			if d == nil || d.Version != top.version || !dispatchable(d.Status) {
				continue
			}
			if _, busy := r.inflight[top.id]; busy {
				continue
			}
			sv := r.views.Subscriptions[d.SubscriptionID]
			if sv == nil {
				continue
			}
			j := job{delivery: *d, sub: *sv}
			switch sv.Status {
			case domain.StatusDeleted:
				j.cancel = true
			case domain.StatusPaused, domain.StatusDisabled:
				r.parked[sv.ID] = append(r.parked[sv.ID], d.ID)
				r.waitReason[d.ID] = map[domain.SubscriptionStatus]string{domain.StatusPaused: WaitPaused, domain.StatusDisabled: WaitDisabled}[sv.Status]
				continue
			}
			if !j.cancel && isFIFO(sv) && !r.fifoMayGoLocked(d, sv) {
				// Held outside the due queue: it is queued again when it
				// becomes the head (fifoNextLocked).
				r.fifoTrackLocked(d)
				r.waitReason[d.ID] = WaitOrdering
				continue
			}
			if !j.cancel && r.running[sv.ID] >= r.opts.PerSubscription {
				r.waiting[sv.ID] = append(r.waiting[sv.ID], d.ID)
				r.waitReason[d.ID] = WaitConcurrency
				continue
			}
			if !j.cancel {
				if wait, why := r.paceLocked(sv, now); wait > 0 {
					r.waitReason[d.ID] = why
					r.queue.push(dueEntry{due: now.Add(wait), id: d.ID, version: d.Version})
					continue
				}
			}
			delete(r.waitReason, d.ID)
			r.inflight[d.ID] = d.Version + 1
			r.running[sv.ID]++
			r.active++
			r.jobs <- j // never blocks: capacity is Workers and active < Workers
		}
		var timer <-chan time.Time
		if r.queue.Len() > 0 && r.active < r.opts.Workers {
			timer = r.clock.After(r.queue[0].due.Sub(now))
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

// finish releases a worker's slots and lets a held delivery of the same
// subscription through.
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
	if w := r.waiting[sub]; len(w) > 0 {
		id := w[0]
		if len(w) == 1 {
			delete(r.waiting, sub)
		} else {
			r.waiting[sub] = w[1:]
		}
		r.requeueLocked(id)
	}
	r.mu.Unlock()
	r.kick()
}

// release forgets a dispatch that appended nothing, so the delivery can be
// taken again once due (after a short pause, to not spin on a failing store).
func (r *Runner) release(id string, retryIn time.Duration) {
	r.mu.Lock()
	delete(r.inflight, id)
	if d := r.views.Delivery(id); d != nil && dispatchable(d.Status) {
		r.queue.push(dueEntry{due: r.clock.Now().Add(retryIn), id: id, version: d.Version})
	}
	r.mu.Unlock()
	r.kick()
}
