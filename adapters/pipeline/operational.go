package pipeline

// Operational webhooks: a subscription disabled or re-enabled and a delivery
// exhausted are announced as messages of the built-in system application, so
// an operator subscribed to it learns at once, through the same signed,
// retried, ledgered delivery. Each announcement has an idempotency key
// derived from the ledger event it announces: folding that event again
// publishes nothing new.

import (
	"context"
	"encoding/json"
	"time"

	"github.com/hookledger/hookledger/domain"
)

// announceWindow: an event folded while catching up is announced only if it
// was recorded this recently, so a rebuild does not announce history again.
const announceWindow = 15 * time.Minute

type opAnnouncement struct {
	eventID   string
	eventType string
	payload   []byte
	orphan    *orphan // not an announcement: what orphans.go finishes
}

// operationalLocked returns the announcement ev calls for, judged on the
// views before ev is applied (nil when none). Events of the system
// application itself are not announced: an operational endpoint failing
// must not feed itself.
func (r *Runner) operationalLocked(rec domain.RecordedEvent, ev domain.Event) *opAnnouncement {
	var typ string
	var body map[string]any
	switch e := ev.(type) {
	case domain.SubscriptionDisabled:
		sv := r.views.Subscriptions[e.SubscriptionID]
		if sv == nil || sv.ApplicationID == domain.SystemApplicationID {
			return nil
		}
		typ, body = domain.OpSubscriptionDisabled, map[string]any{"application_id": sv.ApplicationID, "subscription_id": sv.ID,
			"url": sv.URL, "reason": e.Reason, "detail": e.Detail, "disabled_at": e.DisabledAt}
	case domain.SubscriptionResumed:
		sv := r.views.Subscriptions[e.SubscriptionID]
		if sv == nil || sv.ApplicationID == domain.SystemApplicationID || sv.Status != domain.StatusDisabled {
			return nil // a resume after a pause is not news
		}
		typ, body = domain.OpSubscriptionEnabled, map[string]any{"application_id": sv.ApplicationID, "subscription_id": sv.ID,
			"url": sv.URL, "was_disabled_for": sv.DisabledReason, "enabled_at": e.ResumedAt}
		if e.Reason != "" {
			body["reason"] = e.Reason // the operator's, given to the resume
		}
	case domain.DeliveryExhausted:
		d := r.views.Delivery(e.DeliveryID)
		if d == nil || d.ApplicationID == domain.SystemApplicationID {
			return nil
		}
		typ, body = domain.OpDeliveryExhausted, map[string]any{"application_id": d.ApplicationID, "subscription_id": d.SubscriptionID,
			"delivery_id": d.ID, "message_id": d.MessageID, "event_type": d.EventType, "attempts": e.Attempts, "reason": e.Reason,
			"exhausted_at": e.ExhaustedAt}
	default:
		return nil
	}
	if !r.hasOperationalSubscriberLocked() {
		return nil
	}
	if rec.Position < r.startHead && r.clock.Now().Sub(rec.Created) > announceWindow {
		return nil
	}
	body["type"] = typ // the body is all an endpoint receives: it names itself
	body["ledger_event_id"] = rec.ID
	payload, _ := json.Marshal(body) // map keys are sorted: the same event gives the same payload
	return &opAnnouncement{eventID: rec.ID, eventType: typ, payload: payload}
}

// hasOperationalSubscriberLocked: announcements are published only when some
// operator listens (no ledger noise otherwise).
func (r *Runner) hasOperationalSubscriberLocked() bool {
	for _, sv := range r.views.Subscriptions {
		if sv.ApplicationID == domain.SystemApplicationID && sv.Status != domain.StatusDeleted {
			return true
		}
	}
	return false
}

// opsWorker publishes announcements (and finishes orphans, orphans.go).
func (r *Runner) opsWorker(ctx context.Context) {
	for {
		var a *opAnnouncement
		select {
		case <-ctx.Done():
			return
		case a = <-r.opsCh:
		}
		if a.orphan != nil {
			r.finishOrphan(ctx, a.eventID, a.orphan)
			continue
		}
		key := domain.OperationalIdempotencyKey(a.eventID)
		cmd := domain.PublishMessage{MessageID: domain.MessageIDForKey(domain.SystemApplicationID, key),
			ApplicationID: domain.SystemApplicationID, EventType: a.eventType, Payload: a.payload, IdempotencyKey: key}
		for try := 0; ; try++ {
			_, _, err := r.opts.Commands.Publish(ctx, cmd, domain.Metadata{Actor: "hookledger", CausationID: a.eventID})
			if err == nil {
				break
			}
			if try >= 5 || ctx.Err() != nil {
				r.log.Error().Err(err).Str("announces", a.eventID).Str("event_type", a.eventType).Msg("operational event not published")
				break
			}
			time.Sleep(time.Duration(50<<try) * time.Millisecond)
		}
	}
}

// AnnounceSealFailure announces, once per run of failures, that the ledger
// could not be sealed (audit.Sealer.OnFailure). It does not block: when the
// announcement cannot be queued now, the sealer's next report tries again.
func (r *Runner) AnnounceSealFailure(err error, failingSince time.Time) {
	r.mu.Lock()
	listening := r.hasOperationalSubscriberLocked()
	already := r.sealAnnounced.Equal(failingSince)
	r.mu.Unlock()
	if !listening || already {
		return
	}
	id := "seal-failed-" + failingSince.UTC().Format("20060102T150405.000000000Z")
	body := map[string]any{"type": domain.OpSealFailed, "error": err.Error(), "failing_since": failingSince.UTC()}
	payload, _ := json.Marshal(body)
	select {
	case r.opsCh <- &opAnnouncement{eventID: id, eventType: domain.OpSealFailed, payload: payload}:
		r.mu.Lock()
		r.sealAnnounced = failingSince
		r.mu.Unlock()
	default:
	}
}
