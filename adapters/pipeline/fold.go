package pipeline

// The fold: each ledger event is applied to the views in order; a
// published message is matched against the subscriptions as they stood at
// its position, and the matches go to fan-out.

import (
	"context"
	"fmt"

	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
)

// keyForgetter is a key store that caches keys (keystore.Store).
type keyForgetter interface{ Forget(keyIDs []string) }

func (r *Runner) markCaughtUp() { r.caughtMu.Do(func() { close(r.caughtUp) }) }

// handle folds one ledger event and reacts to it.
func (r *Runner) handle(fanCtx context.Context, rec domain.RecordedEvent) error {
	ev, err := domain.DecodeEvent(rec)
	if err != nil {
		return fmt.Errorf("fold position %d: %w", rec.Position, err)
	}
	var fan *fanoutJob
	var send []domain.ScheduleDelivery
	r.mu.Lock()
	op := r.operationalLocked(rec, ev)
	if op == nil {
		op = r.orphanLocked(rec, ev)
	}
	moved := r.movesEndpointLocked(ev)
	r.views.ApplyDecoded(rec, ev)
	if moved != "" {
		r.endpointMovedLocked(moved)
	}
	switch e := ev.(type) {
	case domain.MessagePublished:
		if cmds := Match(r.views, e, rec.Position); len(cmds) > 0 {
			fan = &fanoutJob{MessageID: e.MessageID, Position: rec.Position, CausationID: rec.ID, Schedules: cmds, remaining: len(cmds)}
			r.fanOpenedLocked(fan)
			send = r.deferReplayedLocked(fan, r.splitFanoutLocked(fan), rec.Position)
			// The attempts follow shortly: keep the body the fold just
			// decoded rather than read the message stream again per attempt.
			r.payloads.put(e)
		}
	case domain.SubscriptionResumed:
		r.unparkLocked(e.SubscriptionID)
	case domain.SubscriptionDeleted:
		r.drainLocked(e.SubscriptionID)
	case domain.DeliveryScheduled:
		r.foreignScheduledLocked(e.DeliveryID, rec.Position)
		r.replayedScheduledLocked(e.DeliveryID, rec.Position)
		r.requeueLocked(e.DeliveryID)
		if r.Ready() {
			r.opts.Observer.DeliveryScheduled()
		}
	case domain.AttemptStarted:
		r.fenceLocked(e)
		r.requeueLocked(e.DeliveryID)
	case domain.DeliveryEvent:
		r.requeueLocked(e.OfDelivery())
	}
	r.settleLocked(rec.Position)
	var forget []string
	if e, ok := ev.(domain.ErasureCompleted); ok {
		forget = e.KeyIDs
	}
	var unfound []fanItem
	if rec.Position >= r.startHead {
		unfound = r.endReplayLocked()
	}
	r.sinceCommit++
	var commitErr error
	var write func() error
	if r.sinceCommit >= r.opts.CommitEvery {
		write, commitErr = r.prepareLocked()
	}
	r.mu.Unlock()
	if write != nil {
		commitErr = write()
	}
	if commitErr != nil {
		r.log.Error().Err(commitErr).Msg("views not committed (the next start replays more)")
	}
	if len(forget) > 0 {
		// Destroyed by an erasure, perhaps another node's: this process's
		// cache of the keys must not open anything under them any more.
		if f, ok := r.opts.Cipher.(keyForgetter); ok {
			f.Forget(forget)
		}
	}
	if rec.Position >= r.startHead {
		r.markCaughtUp()
	}
	r.applied.Broadcast()
	if op != nil {
		select {
		case r.opsCh <- op:
		case <-fanCtx.Done():
			return fanCtx.Err()
		}
	}
	if fan != nil && len(send) > 0 {
		select {
		case r.fanCh <- fanItem{job: fan, cmds: send}:
		case <-fanCtx.Done():
			return fanCtx.Err()
		}
	}
	for _, it := range unfound {
		select {
		case r.fanCh <- it:
		case <-fanCtx.Done():
			return fanCtx.Err()
		}
	}
	r.kick()
	return nil
}

// Match returns the schedules for a message: every active or paused
// subscription of the message's application whose filters match, as the views
// stand. A paused subscription's deliveries are scheduled and wait (parked) for
// the resume, so pausing loses nothing; a disabled subscription (gone, failing,
// or disabled by an operator) gets no new deliveries. Called with
// views folded up to the message's own position, it matches against the
// subscriptions as they stood there.
func Match(v *projections.Views, m domain.MessagePublished, pos domain.Position) []domain.ScheduleDelivery {
	var out []domain.ScheduleDelivery
	for _, sv := range v.SubscriptionsOf(m.ApplicationID) {
		if sv.Status != domain.StatusActive && sv.Status != domain.StatusPaused {
			continue
		}
		pattern, ok := sv.EventTypes.Match(m.EventType)
		if !ok {
			continue
		}
		out = append(out, domain.ScheduleDelivery{
			MessageID: m.MessageID, SubscriptionID: sv.ID, ApplicationID: m.ApplicationID, EventType: m.EventType,
			SubscriptionRevision: sv.Revision(), MatchedPattern: pattern, MessagePosition: pos,
			FirstDelay: domain.PolicyFromMS(sv.RetryScheduleMS).Schedule[0],
		})
	}
	return out
}
