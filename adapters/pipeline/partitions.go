package pipeline

// Partitions: in a cluster, this node works only on the subscriptions of
// the partitions it holds a lease on (adapters/cluster). It still folds the
// whole ledger (any node serves any read), but it dispatches, and fans
// out, only for its own partitions. Taking a partition over closes the
// previous owner's open attempts as outcome unknown (they are retried), and
// an attempt started under an older epoch, folded later, is closed the same
// way: the epoch every attempt carries fences off a former owner.

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/hookledger/hookledger/domain"
)

// Ownership is the cluster's partitioning of the delivery work
// (adapters/cluster.Keeper); nil in Options: this process does all of it.
type Ownership interface {
	// Lease is the partition lease under which sub's deliveries may be
	// attempted now; its context ends when they may no longer.
	Lease(sub string) (domain.AttemptLease, context.Context, bool)
	// Owned lists the partitions held now, with their epochs.
	Owned() map[int]uint64
	// Partitions is the cluster's partition count, known (and fixed)
	// before the runner is built.
	Partitions() int
}

// ownedPartition is a partition this runner works on: ready once the
// takeover (closing the previous owner's open attempts) is done.
type ownedPartition struct {
	epoch uint64
	ready bool
}

// OwnershipChanged tells the runner that the partitions held changed; it
// adopts them in the background (never blocks).
func (r *Runner) OwnershipChanged() {
	select {
	case r.ownCh <- struct{}{}:
	default:
	}
}

// partitionOf is sub's partition. The count is read once, in New: a
// cluster's is fixed by its first node (and the keeper locks to tell it).
func (r *Runner) partitionOf(sub string) int { return domain.PartitionOf(sub, r.partitions) }

// ownsLocked reports whether this runner may dispatch sub's deliveries.
func (r *Runner) ownsLocked(sub string) bool {
	if r.opts.Ownership == nil {
		return true
	}
	o, ok := r.owned[r.partitionOf(sub)]
	return ok && o.ready
}

// fansOutLocked reports whether this runner schedules sub's deliveries.
func (r *Runner) fansOutLocked(sub string) bool {
	if r.opts.Ownership == nil {
		return true
	}
	_, ok := r.owned[r.partitionOf(sub)]
	return ok
}

// ownershipLoop adopts the partitions held as they change, until ctx ends.
func (r *Runner) ownershipLoop(ctx context.Context) {
	if r.opts.Ownership == nil {
		return
	}
	for {
		r.adoptOwnership(ctx)
		select {
		case <-ctx.Done():
			return
		case <-r.ownCh:
		}
	}
}

// adoptOwnership parks the subscriptions of partitions lost, and takes over
// the partitions gained.
func (r *Runner) adoptOwnership(ctx context.Context) {
	now := r.opts.Ownership.Owned()
	gained := map[int]uint64{}
	r.mu.Lock()
	var lost []int
	for p, o := range r.owned {
		if e, ok := now[p]; !ok || e != o.epoch {
			lost = append(lost, p)
			delete(r.owned, p)
		}
	}
	for p, e := range now {
		if _, ok := r.owned[p]; !ok {
			gained[p] = e
			r.owned[p] = ownedPartition{epoch: e} // the fold fences older epochs from now on
		}
	}
	if len(lost) > 0 {
		lostSet := map[int]bool{}
		for _, p := range lost {
			lostSet[p] = true
		}
		for id := range r.views.Subscriptions {
			if lostSet[r.partitionOf(id)] {
				r.queue.park(id)
			}
		}
	}
	r.mu.Unlock()
	if len(lost) > 0 {
		sort.Ints(lost)
		r.log.Info().Ints("partitions", lost).Msg("partitions no longer ours: their deliveries are left to their next owner")
	}
	if len(gained) == 0 {
		return
	}
	r.takeOver(ctx, gained)
}

// takeOver closes the open attempts of the partitions gained (their
// previous owner's, whose outcome nobody will record), then dispatches
// their deliveries and schedules their fan-outs left pending.
func (r *Runner) takeOver(ctx context.Context, gained map[int]uint64) {
	// Every attempt the previous owner started is in the ledger by now (it
	// stopped a margin before its lease ended, and this one began a margin
	// after): fold up to the head, then look.
	if head, err := r.opts.Store.Head(ctx); err == nil {
		r.WaitFor(ctx, head)
	}
	if ctx.Err() != nil {
		return
	}
	r.mu.Lock()
	var open []string
	r.commitForRead()
	r.openIndex().Attempting(func(id string) bool {
		if d := r.views.Delivery(id); d != nil && d.Status == domain.DeliveryStatusAttempting {
			if _, ok := gained[r.partitionOf(d.SubscriptionID)]; ok {
				open = append(open, id)
			}
		}
		return true
	})
	r.mu.Unlock()
	sort.Strings(open)
	closed := 0
	for _, id := range open {
		if r.closeOpenAttempt(ctx, id, "the partition's previous owner did not record the outcome") {
			closed++
		}
	}

	var fan []fanItem
	r.mu.Lock()
	parts := make([]int, 0, len(gained))
	for p, e := range gained {
		if o, ok := r.owned[p]; ok && o.epoch == e {
			r.owned[p] = ownedPartition{epoch: e, ready: true}
			parts = append(parts, p)
		}
	}
	for id, sv := range r.views.Subscriptions {
		if !r.ownsLocked(id) {
			continue
		}
		if _, ok := gained[r.partitionOf(id)]; !ok {
			continue
		}
		// A subscription parked while it was another node's may have no
		// open delivery yet: unparked all the same, or the schedules about
		// to be appended would be dropped by the parked queue.
		switch {
		case sv.Status == domain.StatusPaused || sv.Status == domain.StatusDisabled:
			if sv.Open > 0 {
				r.queue.park(id)
			}
		case sv.Status == domain.StatusDeleted:
			if sv.Open > 0 || r.queue.parked(id) {
				r.queue.park(id)
				r.drainLocked(id)
			}
		case r.queue.parked(id):
			r.queue.unpark(id)
		case sv.Open > 0:
			r.queue.load(id)
		}
		if isFIFO(sv) && sv.Open > 0 && r.fifo[id] == nil {
			r.fifo[id] = &fifoQueue{in: map[string]bool{}, spilled: true}
		}
	}
	for id, it := range r.foreign {
		if r.fansOutLocked(it.cmds[0].SubscriptionID) {
			fan = append(fan, it)
			delete(r.foreign, id)
		}
	}
	r.mu.Unlock()
	sort.Ints(parts)
	r.log.Info().Ints("partitions", parts).Int("attempts_closed", closed).Int("fanouts_resumed", len(fan)).Msg("partitions taken over")
	go func() {
		for _, it := range fan {
			select {
			case r.fanCh <- it:
			case <-ctx.Done():
				return
			}
		}
	}()
	r.kick()
}

// closeOpenAttempt closes a delivery's open attempt as outcome unknown, if
// it is still open and not this runner's own; a race with its former owner
// recording the outcome is decided by the delivery's revision, and read
// again. It reports whether it closed one.
func (r *Runner) closeOpenAttempt(ctx context.Context, id, reason string) bool {
	for try := 0; try < 3; try++ {
		r.mu.Lock()
		d := r.views.Delivery(id)
		if d == nil || d.Status != domain.DeliveryStatusAttempting {
			r.mu.Unlock()
			return false
		}
		if _, mine := r.inflight[id]; mine {
			r.mu.Unlock()
			return false
		}
		r.inflight[id] = d.Version + 1
		dv := *d
		r.mu.Unlock()
		evs, err := domain.DecideDelivery(dv.Delivery, domain.CloseUnknownAttempt{Attempt: dv.OpenAttempt, Reason: reason}, r.clock.Now())
		if err == nil {
			_, err = r.appendDelivery(dv, evs, dv.LastEventID)
		}
		if err == nil {
			return true
		}
		r.mu.Lock()
		delete(r.inflight, id)
		r.mu.Unlock()
		if ctx.Err() != nil {
			return false
		}
		if head, herr := r.opts.Store.Head(ctx); herr == nil {
			r.WaitFor(ctx, head) // someone moved it: look again at what they wrote
		}
		if try == 2 {
			r.log.Error().Err(err).Str("delivery_id", id).Msg("could not close an attempt of a former owner")
		}
	}
	return false
}

// fenceLocked reacts to an attempt folded: started under an epoch older than
// the one this runner holds for its partition, it belongs to a former owner
// that is not coming back for it, and it is closed.
func (r *Runner) fenceLocked(e domain.AttemptStarted) {
	if r.opts.Ownership == nil || e.Partition == nil {
		return
	}
	if o, ok := r.owned[*e.Partition]; ok && e.Epoch < o.epoch {
		r.log.Warn().Str("delivery_id", e.DeliveryID).Str("node_id", e.NodeID).Uint64("epoch", e.Epoch).Uint64("current_epoch", o.epoch).
			Msg("an attempt started under a former owner's lease: closing it as outcome unknown")
		reason := fmt.Sprintf("started by %s under epoch %d of partition %d, which has since changed owner", e.NodeID, e.Epoch, *e.Partition)
		go func() {
			// Bounded: at a shutdown the fold stops, and nothing would end
			// the wait for it.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			r.closeOpenAttempt(ctx, e.DeliveryID, reason)
		}()
	}
}

// splitFanoutLocked returns the schedules of j this runner appends now;
// the others wait in foreign until their owner's `delivery.scheduled` is
// folded, or until this runner takes their partition over.
func (r *Runner) splitFanoutLocked(j *fanoutJob) []domain.ScheduleDelivery {
	if r.opts.Ownership == nil {
		return j.Schedules
	}
	var mine []domain.ScheduleDelivery
	for _, c := range j.Schedules {
		if r.fansOutLocked(c.SubscriptionID) {
			mine = append(mine, c)
		} else {
			r.foreign[domain.DeliveryIDFor(c.MessageID, c.SubscriptionID)] = fanItem{job: j, cmds: []domain.ScheduleDelivery{c}}
		}
	}
	return mine
}

// foreignScheduledLocked counts a schedule another node appended.
func (r *Runner) foreignScheduledLocked(id string, pos domain.Position) {
	r.foundLocked(r.foreign, id, pos)
}

// foundLocked counts a schedule waiting in waiting as done: the fold met
// its delivery.scheduled at pos.
func (r *Runner) foundLocked(waiting map[string]fanItem, id string, pos domain.Position) {
	it, ok := waiting[id]
	if !ok {
		return
	}
	delete(waiting, id)
	it.job.settleAt = max(it.job.settleAt, pos)
	r.fanItemDoneLocked(it.job)
}

// restartFanoutLocked splits the fan-outs a previous run left unfinished:
// a schedule already in the views is done; the rest wait for their
// partition's owner (possibly this runner, once it takes it over).
func (r *Runner) restartFanoutLocked(j *fanoutJob) {
	for _, c := range j.Schedules {
		id := domain.DeliveryIDFor(c.MessageID, c.SubscriptionID)
		if r.views.Delivery(id) != nil {
			r.fanItemDoneLocked(j)
			continue
		}
		r.foreign[id] = fanItem{job: j, cmds: []domain.ScheduleDelivery{c}}
	}
}
