package pipeline

import (
	"context"
	"time"

	"github.com/hookledger/hookledger/domain"
)

// Observer is told what the delivery process does (the metrics adapter
// implements it). Calls are made on hot paths: they must be cheap.
type Observer interface {
	// AttemptFinished: an attempt's outcome was recorded ("" when
	// acknowledged, else the error class), with the attempt's latency.
	AttemptFinished(errorClass string, took time.Duration)
	// DeliveryScheduled: a delivery.scheduled event was folded live (fan-out
	// or replay; not while catching up on history).
	DeliveryScheduled()
	// RetryScheduled: a retry was scheduled after a failed attempt.
	RetryScheduled()
}

type noObserver struct{}

func (noObserver) AttemptFinished(string, time.Duration) {}
func (noObserver) DeliveryScheduled()                    {}
func (noObserver) RetryScheduled()                       {}

// Backlog is the delivery work open now: deliveries waiting for their due
// time or a worker, held for a paused or disabled subscription, or in
// flight, and when the oldest of them was scheduled (read as the scheduling
// time of each subscription's earliest-published open delivery).
type Backlog struct {
	Pending, Parked, InFlight int
	// OldestPending is when the oldest delivery pending or in flight was
	// scheduled; OldestParked, the oldest held for a paused or disabled
	// subscription (zero: none). Apart, because a subscription paused on
	// purpose for days is not deliveries falling behind.
	OldestPending, OldestParked time.Time
}

// Backlog reports the open delivery work, from each subscription's open
// count and the first entry of its order index: its cost is in the
// subscriptions, not in the open deliveries or the history.
//
// The counts are read in one hold of the views lock, but no index is
// scanned under it. A scan past the tombstones of closed deliveries can take
// milliseconds, and with thousands of subscriptions holding open deliveries
// (endpoints down, retries waiting) one hold for all of them would stop the
// fold, and every worker waiting to record an outcome, on each metrics
// scrape. The oldest is therefore read from views that move between two
// subscriptions: it is a gauge, not a snapshot.
func (r *Runner) Backlog() Backlog {
	var b Backlog
	type openSub struct {
		id     string
		parked bool
	}
	r.mu.RLock()
	open := make([]openSub, 0, 8)
	for id, sv := range r.views.Subscriptions {
		if sv.Open <= 0 {
			continue
		}
		parked := sv.Status == domain.StatusPaused || sv.Status == domain.StatusDisabled
		if parked {
			b.Parked += sv.Open
		} else {
			b.Pending += sv.Open
		}
		open = append(open, openSub{id, parked})
	}
	b.InFlight = r.active
	r.mu.RUnlock()
	b.Pending = max(0, b.Pending-b.InFlight)
	for _, o := range open {
		at := r.firstScheduled(func(idx indexes, fn func(string) bool) {
			idx.OpenInOrder(o.id, 0, "", func(_ domain.Position, did string) bool { return fn(did) })
		})
		oldest := &b.OldestPending
		if o.parked {
			oldest = &b.OldestParked
		}
		if !at.IsZero() && (oldest.IsZero() || at.Before(*oldest)) {
			*oldest = at
		}
	}
	return b
}

// firstScheduled is when the first delivery that scan finds was scheduled
// (zero: none). The view store's indexes read what is written, so they are
// scanned without the views lock; the in-memory index reads the views, so
// it is scanned under it.
func (r *Runner) firstScheduled(scan func(idx indexes, fn func(id string) bool)) time.Time {
	var first string
	firstOf := func(id string) bool { first = id; return false }
	if r.opts.ViewStore != nil {
		scan(r.opts.ViewStore, firstOf)
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.opts.ViewStore == nil {
		scan(r.openIndex(), firstOf)
	}
	if first == "" {
		return time.Time{}
	}
	if d := r.views.Delivery(first); d != nil {
		return d.ScheduledAt
	}
	return time.Time{}
}

// Lag says how far the views are behind the ledger: the head, the position
// folded, and the age of the oldest event not folded yet (0 when caught up).
func (r *Runner) Lag(ctx context.Context) (head, folded domain.Position, behind time.Duration, err error) {
	head, err = r.opts.Store.Head(ctx)
	if err != nil {
		return 0, 0, 0, err
	}
	folded = r.Checkpoint()
	if head <= folded {
		return head, folded, 0, nil
	}
	next, err := r.opts.Store.ReadAll(ctx, folded+1, 1)
	if err != nil || len(next) == 0 {
		return head, folded, 0, err
	}
	return head, folded, max(r.clock.Now().Sub(next[0].Created), 0), nil
}

// DisabledByReason counts the subscriptions disabled, by reason.
func (r *Runner) DisabledByReason() map[string]int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := map[string]int{}
	for _, s := range r.views.Subscriptions {
		if s.Status == domain.StatusDisabled {
			out[s.DisabledReason]++
		}
	}
	return out
}

// Footprint is what the delivery process holds in memory about deliveries:
// each figure is bounded by configuration (QueueWindow x subscriptions,
// PayloadCacheBytes, Workers), never by the backlog or the history. FIFO
// subscriptions are the exception: FIFOEntries is their open deliveries.
type Footprint struct {
	QueueEntries int // due-queue entries (every subscription's window)
	PayloadBytes int // cached message bodies
	InFlight     int // dispatched, attempt's events not folded yet (at most 4 x Workers: the dispatcher waits for the fold)
	FIFOEntries  int
	Reasons      int // deliveries held with a reason of their own (ordering)
}

// Footprint reports the in-memory structures' sizes.
func (r *Runner) Footprint() Footprint {
	r.mu.RLock()
	defer r.mu.RUnlock()
	f := Footprint{QueueEntries: r.queue.size(), InFlight: len(r.inflight), Reasons: len(r.waitReason)}
	for _, q := range r.fifo {
		f.FIFOEntries += q.heap.Len()
	}
	r.payloads.mu.Lock()
	f.PayloadBytes = r.payloads.bytes
	r.payloads.mu.Unlock()
	return f
}

// OldestOpen is when the oldest open delivery of a subscription was
// scheduled (read as its soonest-due one's; false: none).
func (r *Runner) OldestOpen(sub string) (time.Time, bool) {
	at := r.firstScheduled(func(idx indexes, fn func(string) bool) {
		idx.OpenDue(sub, time.Time{}, "", func(_ time.Time, id string, _ bool) bool { return fn(id) })
	})
	return at, !at.IsZero()
}
