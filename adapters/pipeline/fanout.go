package pipeline

// Fan-out: the deliveries a message matched are scheduled (appended with
// "no stream" expected, so a replay schedules nothing twice).

import (
	"container/heap"
	"context"
	"errors"
	"time"

	"github.com/hookledger/hookledger/domain"
)

// fanItem is schedules of one fan-out for a fan-out worker: all of a
// message's (this node's share) when the fold sends them, one when a
// restart or a partition taken over resumes them.
type fanItem struct {
	job  *fanoutJob
	cmds []domain.ScheduleDelivery
}

// fanoutWorker appends the scheduled deliveries decided by handle. Where
// the store offers multi-stream appends, a worker takes every fan-out
// waiting (up to fanBatch schedules) and appends their schedules in one
// request: a message's several subscriptions, and under load several
// messages, in one trip through the store instead of one per schedule.
// Otherwise, and when such an append is refused, one by one.
func (r *Runner) fanoutWorker(ctx context.Context) {
	batch := make([]fanItem, 0, 16)
	var starts []startNow // reused by scheduleAll
	for {
		var it fanItem
		select {
		case <-ctx.Done():
			return
		case it = <-r.fanCh:
		}
		batch = append(batch[:0], it)
		n := len(it.cmds)
		if !r.oneByOne.Load() {
		gather:
			for n < fanBatch {
				select {
				case it := <-r.fanCh:
					batch = append(batch, it)
					n += len(it.cmds)
				default:
					break gather
				}
			}
		}
		if (n > 1 || r.mayStartNow()) && !r.oneByOne.Load() && r.scheduleAll(batch, &starts) {
			continue
		}
		for _, it := range batch {
			for _, c := range it.cmds {
				r.scheduleOne(ctx, it.job, c)
			}
		}
	}
}

// fanBatch bounds the schedules of one multi-stream append.
const fanBatch = 256

// scheduleAll appends every schedule of the batch at once, and reports
// whether it did. When it did not (a store without multi-stream appends,
// one of the deliveries already scheduled by a run before a restart, an
// error), it wrote nothing and the schedules go one by one, which sorts
// each case out.
//
// A delivery due at once whose subscription has a slot free is claimed
// here and its attempt started in the same write (startnow.go).
func (r *Runner) scheduleAll(batch []fanItem, scratch *[]startNow) bool {
	var parts []domain.DecidedAppend
	now := r.clock.Now()
	for _, it := range batch {
		md := domain.Metadata{Actor: "fanout", CorrelationID: it.job.MessageID, CausationID: it.job.CausationID}
		for _, c := range it.cmds {
			evs, err := domain.DecideDelivery(domain.Delivery{}, c, now)
			if err != nil {
				return false
			}
			parts = append(parts, domain.DecidedAppend{Stream: domain.DeliveryStream(evs[0].(domain.DeliveryScheduled).DeliveryID), Events: evs, Metadata: md})
		}
	}
	var starts []startNow
	if r.mayStartNow() {
		starts = r.claimStarts(parts, now, (*scratch)[:0])
		*scratch = starts
		defer clear(starts) // no job kept past its hand-over
	}
	res, ids, err := r.opts.Commands.AppendDecidedMulti(context.Background(), parts)
	switch {
	case errors.Is(err, errors.ErrUnsupported):
		r.unclaim(parts, starts)
		r.oneByOne.Store(true) // and not asked again
		return false
	case err != nil:
		r.unclaim(parts, starts)
		if !errors.Is(err, domain.ErrWrongRevision) {
			r.log.Warn().Err(err).Int("schedules", len(parts)).Msg("deliveries not scheduled at once; scheduling them one by one")
		}
		return false
	}
	r.stats.Scheduled.Add(int64(len(parts)))
	if len(starts) > 0 {
		r.handOver(parts, starts, res, ids)
	}
	at := 0
	for _, it := range batch {
		at += len(it.cmds)
		r.fanAppendedAt(it.job, res[at-1].Position)
	}
	r.mu.Lock()
	for _, it := range batch {
		for range it.cmds {
			r.fanItemDoneLocked(it.job)
		}
	}
	r.mu.Unlock()
	r.kick()
	return true
}

// scheduleOne appends one schedule of j, retrying a failed append a few
// times; one already in the ledger counts as appended. A delivery due at
// once may have its attempt started in the same append, as in scheduleAll
// (on the first try only: a claim is not held across the pauses).
func (r *Runner) scheduleOne(ctx context.Context, j *fanoutJob, cmd domain.ScheduleDelivery) {
	for try := 0; ; try++ {
		now := r.clock.Now()
		evs, err := domain.DecideDelivery(domain.Delivery{}, cmd, now)
		var res domain.AppendResult
		if err == nil {
			part := []domain.DecidedAppend{{Stream: domain.DeliveryStream(evs[0].(domain.DeliveryScheduled).DeliveryID), Events: evs,
				Metadata: domain.Metadata{Actor: "fanout", CorrelationID: j.MessageID, CausationID: j.CausationID}}}
			var starts []startNow
			if try == 0 && r.mayStartNow() {
				starts = r.claimStarts(part, now, nil)
			}
			var ids []string
			res, ids, err = r.opts.Commands.AppendDecidedPart(context.Background(), part[0])
			if err != nil {
				r.unclaim(part, starts)
			} else if len(starts) > 0 {
				r.handOver(part, starts, []domain.AppendResult{res}, [][]string{ids})
			}
		}
		if err == nil {
			r.stats.Scheduled.Add(1)
			r.fanAppendedAt(j, res.Position)
			break
		}
		if errors.Is(err, domain.ErrWrongRevision) {
			// Already scheduled (a replay after a restart): its first
			// event is the schedule the fold must have seen.
			stream := domain.DeliveryStream(domain.DeliveryIDFor(cmd.MessageID, cmd.SubscriptionID))
			if recs, rerr := r.opts.Store.ReadStream(ctx, stream, 0, domain.Forward, 1); rerr == nil && len(recs) == 1 {
				r.fanAppendedAt(j, recs[0].Position)
			}
			break
		}
		if errors.Is(err, domain.ErrInvalidArgument) || try >= 5 || ctx.Err() != nil {
			// Left in the pending fan-out set: the next start retries it.
			r.log.Error().Err(err).Str("message_id", cmd.MessageID).Str("subscription_id", cmd.SubscriptionID).Msg("delivery not scheduled")
			return
		}
		time.Sleep(time.Duration(50<<try) * time.Millisecond)
	}
	r.mu.Lock()
	r.fanItemDoneLocked(j)
	r.mu.Unlock()
	r.kick()
}

// fanItemDoneLocked counts one schedule of j as appended (by this runner or,
// in a cluster, by its partition's owner).
func (r *Runner) fanItemDoneLocked(j *fanoutJob) {
	j.remaining--
	if j.remaining > 0 {
		return
	}
	// Done once the fold has also seen what was appended: until then a FIFO
	// delivery of a later message could look like its subscription's head
	// and go first.
	if j.settleAt <= r.foldedAt {
		r.fanDoneLocked(j.Position)
		r.fifoReleaseAllLocked() // a FIFO head held behind this message may go
	} else {
		heap.Push(&r.settling, j)
	}
}

// fanAppendedAt notes that a schedule of j is in the ledger at or before pos.
func (r *Runner) fanAppendedAt(j *fanoutJob, pos domain.Position) {
	r.mu.Lock()
	j.settleAt = max(j.settleAt, pos)
	r.mu.Unlock()
}

// settleLocked ends the fan-outs whose appends the fold has now seen. The
// fan-outs waiting are a heap by their last append, so each folded event
// costs what it settles, not what waits.
func (r *Runner) settleLocked(folded domain.Position) {
	r.foldedAt = folded
	released := false
	for r.settling.Len() > 0 && r.settling[0].settleAt <= folded {
		j := heap.Pop(&r.settling).(*fanoutJob)
		r.fanDoneLocked(j.Position)
		released = true
	}
	if released {
		r.fifoReleaseAllLocked()
	}
}

// settleHeap orders fan-outs by the position of their last append.
type settleHeap []*fanoutJob

func (h settleHeap) Len() int           { return len(h) }
func (h settleHeap) Less(i, j int) bool { return h[i].settleAt < h[j].settleAt }
func (h settleHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *settleHeap) Push(x any)        { *h = append(*h, x.(*fanoutJob)) }
func (h *settleHeap) Pop() any {
	old := *h
	j := old[len(old)-1]
	*h = old[:len(old)-1]
	return j
}
