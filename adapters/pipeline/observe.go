package pipeline

import (
	"context"
	"time"

	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
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
// flight, and when the oldest of them was scheduled. It costs time in the
// open work, not in the history.
type Backlog struct {
	Pending, Parked, InFlight int
	OldestScheduled           time.Time
}

// Backlog reports the open delivery work.
func (r *Runner) Backlog() Backlog {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var b Backlog
	seen := map[string]bool{}
	count := func(id string, parked bool) {
		if seen[id] {
			return
		}
		d := r.views.Delivery(id)
		if d == nil || !projections.IsOpen(d.Status) {
			return
		}
		seen[id] = true
		if parked {
			b.Parked++
		} else {
			b.Pending++
		}
		if b.OldestScheduled.IsZero() || d.ScheduledAt.Before(b.OldestScheduled) {
			b.OldestScheduled = d.ScheduledAt
		}
	}
	for _, ids := range r.parked {
		for _, id := range ids {
			count(id, true)
		}
	}
	for _, e := range r.queue {
		count(e.id, false)
	}
	for _, ids := range r.waiting {
		for _, id := range ids {
			count(id, false)
		}
	}
	b.InFlight = r.active
	return b
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
