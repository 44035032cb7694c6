package pipeline

// The fan-outs of a catch-up: a message the fold meets below the head the
// ledger had at the start was published before this run, and its
// deliveries were most likely scheduled then, a few positions after it.
// Appending its schedules again ("no stream" expected) would schedule
// nothing twice, but a fold from position 0 (a new view store, after a
// restore or a format change) made one refused append per message ever
// published: a ledger of 1,000 messages started with 1,000 refused appends
// and its new fan-outs queued behind them. So the catch-up leaves each
// such schedule to the fold: when it folds the delivery's
// delivery.scheduled, the schedule is done; the ones it has not found by
// the start's head (a fan-out a crash cut short) are appended then.

import (
	"sort"

	"github.com/hookledger/hookledger/domain"
)

// deferReplayedLocked keeps the schedules of a message folded during the
// catch-up (position below the start's head) for the fold to find, and
// answers the ones to append now: all of them past the catch-up.
func (r *Runner) deferReplayedLocked(j *fanoutJob, mine []domain.ScheduleDelivery, pos domain.Position) []domain.ScheduleDelivery {
	if pos >= r.startHead || len(mine) == 0 {
		return mine
	}
	for _, c := range mine {
		r.replayed[domain.DeliveryIDFor(c.MessageID, c.SubscriptionID)] = fanItem{job: j, cmds: []domain.ScheduleDelivery{c}}
	}
	return nil
}

// replayedScheduledLocked counts a schedule the catch-up left to the fold
// as done: the fold met it in the ledger.
func (r *Runner) replayedScheduledLocked(id string, pos domain.Position) {
	r.foundLocked(r.replayed, id, pos)
}

// endReplayLocked ends the catch-up's deferral: the schedules the fold did
// not find in the ledger up to the start's head are answered, to append, in
// the order of their messages.
func (r *Runner) endReplayLocked() []fanItem {
	if len(r.replayed) == 0 {
		return nil
	}
	out := make([]fanItem, 0, len(r.replayed))
	for _, it := range r.replayed {
		out = append(out, it)
	}
	clear(r.replayed)
	sort.Slice(out, func(a, b int) bool {
		if out[a].job.Position != out[b].job.Position {
			return out[a].job.Position < out[b].job.Position
		}
		return out[a].cmds[0].SubscriptionID < out[b].cmds[0].SubscriptionID
	})
	return out
}
