package pipeline

// Starting at the schedule: a delivery due at once, whose subscription has
// a worker and a slot free, is claimed by the fan-out worker that schedules
// it. Its `delivery.scheduled` and `attempt_started` go in the same write,
// and the attempt goes straight to a worker. The two events are the ones
// the usual path appends, with the same actors and causation; what is saved
// is a trip through the store, the fold and the dispatcher per delivery.

import (
	"context"
	"time"

	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
)

// startNow is one delivery claimed at its schedule: the part it is written
// in, and its job for a worker (the subscription as it stood when it was
// claimed; the delivery once written). A fan-out worker reuses its slice of
// them from one write to the next: a job is 700 bytes.
type startNow struct {
	part int
	job  job
}

// mayStartNow reports, without the lock, whether claiming at the schedule
// can be tried at all: the workers take jobs and the process is not
// stopping.
func (r *Runner) mayStartNow() bool {
	return r.serving.Load() && !r.stopping.Load()
}

// claimLocked reserves the slots of an attempt of the delivery e schedules,
// as dispatchOneLocked and a worker would when they take it: when it is due
// at once, its subscription is active, not FIFO (its order is the FIFO
// window's), below its concurrency limit and not paced, and, in a cluster,
// its partition's lease is held (the attempt is started and sent under
// it). The delivery is marked in flight until the fold has seen its
// attempt start, so the fold does not queue it. The job returned is the
// attempt's but for the delivery, known once written.
func (r *Runner) claimLocked(e domain.DeliveryScheduled, now time.Time) (job, bool) {
	if !r.serving.Load() || r.stopping.Load() || e.DueAt.After(now) ||
		r.active >= r.opts.Workers || len(r.inflight) >= r.maxInFlight() {
		return job{}, false
	}
	sv := r.views.Subscriptions[e.SubscriptionID]
	if sv == nil || sv.Status != domain.StatusActive || isFIFO(sv) || !r.ownsLocked(sv.ID) ||
		r.running[sv.ID] >= r.opts.PerSubscription {
		return job{}, false
	}
	if _, busy := r.inflight[e.DeliveryID]; busy {
		return job{}, false
	}
	j := job{sub: *sv, started: true}
	if r.opts.Ownership != nil {
		// The keeper's lock is never held while it waits for this one.
		l, ctx, ok := r.opts.Ownership.Lease(sv.ID)
		if !ok {
			return job{}, false
		}
		j.lease, j.leaseCtx = &l, ctx
	}
	if wait, _ := r.paceLocked(sv, now); wait > 0 {
		return job{}, false // the dispatcher holds it, saying why
	}
	delete(r.held, sv.ID)
	r.inflight[e.DeliveryID] = 2 // the version after `scheduled` and `attempt_started`
	r.running[sv.ID]++
	r.active++
	return j, true
}

// claimStarts claims what it can of parts (each one delivery's schedule,
// decided at now), appending the claims to starts, and adds to each part
// claimed its attempt's start.
func (r *Runner) claimStarts(parts []domain.DecidedAppend, now time.Time, starts []startNow) []startNow {
	r.mu.Lock()
	for i := range parts {
		if j, ok := r.claimLocked(parts[i].Events[0].(domain.DeliveryScheduled), now); ok {
			starts = append(starts, startNow{part: i, job: j})
		}
	}
	r.mu.Unlock()
	kept := starts[:0]
	for _, s := range starts {
		p := &parts[s.part]
		evs, err := domain.DecideDelivery(domain.EvolveDelivery(domain.Delivery{}, p.Events[0]), domain.StartAttempt{Worker: r.opts.WorkerName, Lease: s.job.lease}, now)
		if err != nil { // not on a delivery just scheduled; if so, the dispatcher takes it
			r.unclaim(parts, []startNow{s})
			continue
		}
		ids := []string{r.opts.Commands.NewEventID(), r.opts.Commands.NewEventID()}
		worker := domain.Metadata{Actor: r.opts.WorkerName, CorrelationID: p.Metadata.CorrelationID, CausationID: ids[0]}
		p.Events = append(p.Events[:1:1], evs[0])
		p.Each, p.IDs = []domain.Metadata{p.Metadata, worker}, ids
		kept = append(kept, s)
	}
	return kept
}

// unclaim gives back what claims took, their write having failed or not
// been made: the deliveries are then scheduled and dispatched the usual way.
// (A rate-limit token a claim took is not given back: a write fails rarely,
// and its deliveries then wait one token longer.)
func (r *Runner) unclaim(parts []domain.DecidedAppend, starts []startNow) {
	if len(starts) == 0 {
		return
	}
	r.mu.Lock()
	for _, s := range starts {
		id := parts[s.part].Events[0].(domain.DeliveryScheduled).DeliveryID
		delete(r.inflight, id)
		// Refused because a run before a restart scheduled it: the
		// dispatcher may have passed it over while it was claimed.
		r.requeueLocked(id)
		sub := s.job.sub.ID
		r.running[sub]--
		if r.running[sub] <= 0 {
			delete(r.running, sub)
		}
		r.active--
		r.queue.unblock(sub)
	}
	r.mu.Unlock()
	r.kick()
}

// handOver gives the attempts started in the write to workers. res and ids
// are the write's results and event ids, part by part.
func (r *Runner) handOver(parts []domain.DecidedAppend, starts []startNow, res []domain.AppendResult, ids [][]string) {
	for k := range starts {
		s := &starts[k]
		p := parts[s.part]
		d := projections.DeliveryView{
			Delivery:          domain.EvolveDelivery(domain.Delivery{}, p.Events[0]),
			ScheduledPosition: res[s.part].Position - 1, Position: res[s.part].Position - 1,
			LastEventID: ids[s.part][0], UpdatedAt: p.Events[0].(domain.DeliveryScheduled).DueAt,
		}
		s.job.delivery = evolveAll(d, p.Events[1:], ids[s.part][1:])
		s.job.delivery.Position = res[s.part].Position
	}
	r.stats.Attempts.Add(int64(len(starts)))
	r.stats.StartedWithSchedule.Add(int64(len(starts)))
	r.mu.Lock()
	serving := r.serving.Load()
	if serving {
		for k := range starts {
			r.jobs <- starts[k].job // never blocks: each claim holds one of the Workers slots
		}
	}
	r.mu.Unlock()
	if !serving {
		// The workers stopped while the write was in flight: the attempts
		// started are closed as not sent and retried at the next start.
		for k := range starts {
			r.notSent(starts[k].job, "the process stopped before the attempt was sent")
		}
	}
}

// notSent records the outcome of an attempt started and never sent, and
// gives back its slots.
func (r *Runner) notSent(j job, why string) {
	defer r.finish(j)
	result := domain.AttemptResult{Attempt: j.delivery.OpenAttempt, ErrorClass: domain.ErrorClassInternal, Error: "not sent: " + why}
	r.recordOutcome(context.Background(), context.Background(), j.sub, j.delivery, result)
}
