package pipeline

// Fan-out: the deliveries a message matched are scheduled (appended with
// "no stream" expected, so a replay schedules nothing twice).

import (
	"context"
	"errors"
	"time"

	"github.com/hookledger/hookledger/domain"
)

type fanItem struct {
	job *fanoutJob
	cmd domain.ScheduleDelivery
}

// fanoutWorker appends the scheduled deliveries decided by handle.
func (r *Runner) fanoutWorker(ctx context.Context) {
	for {
		var it fanItem
		select {
		case <-ctx.Done():
			return
		case it = <-r.fanCh:
		}
		for try := 0; ; try++ {
			evs, err := domain.DecideDelivery(domain.Delivery{}, it.cmd, r.clock.Now())
			if err == nil {
				_, _, err = r.opts.Commands.AppendDecided(context.Background(), domain.DeliveryStream(evs[0].(domain.DeliveryScheduled).DeliveryID), 0, false, evs,
					domain.Metadata{Actor: "fanout", CorrelationID: it.job.MessageID, CausationID: it.job.CausationID})
			}
			if err == nil {
				r.stats.Scheduled.Add(1)
				break
			}
			if errors.Is(err, domain.ErrWrongRevision) {
				break // already scheduled: a replay after a restart
			}
			if errors.Is(err, domain.ErrInvalidArgument) || try >= 5 || ctx.Err() != nil {
				// Left in the pending fan-out set: the next start retries it.
				r.log.Error().Err(err).Str("message_id", it.cmd.MessageID).Str("subscription_id", it.cmd.SubscriptionID).Msg("delivery not scheduled")
				goto next
			}
			time.Sleep(time.Duration(50<<try) * time.Millisecond)
		}
		r.mu.Lock()
		it.job.remaining--
		if it.job.remaining <= 0 {
			delete(r.fanPending, it.job.Position)
			r.fifoReleaseAllLocked() // a FIFO head held behind this message may go
		}
		r.mu.Unlock()
		r.kick()
	next:
	}
}
