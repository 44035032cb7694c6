package httpapi

// Why a message was or was not delivered to a subscription, and what became
// of the delivery: GET /applications/{app}/messages/{msg}/explain.

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
)

type explainAttempt struct {
	Type       string    `json:"type"`
	Position   uint64    `json:"position"`
	At         time.Time `json:"at"`
	Attempt    int       `json:"attempt,omitempty"`
	StatusCode int       `json:"status_code,omitempty"`
	ErrorClass string    `json:"error_class,omitempty"`
	Detail     string    `json:"detail,omitempty"`
}

// explain says, from the state at the message's position, why the message was
// or was not delivered to a subscription, then what became of the delivery.
func (s *Server) explain(c *gin.Context) {
	msgID, err := pathID(c, "msg")
	if err != nil {
		s.fail(c, err)
		return
	}
	subID := c.Query("subscription_id")
	if subID == "" {
		s.fail(c, bad(CodeInvalidParameter, "subscription_id", "subscription_id is required: the subscription whose delivery of this message to explain"))
		return
	}
	if err := domain.ValidateID("subscription_id", subID); err != nil {
		s.fail(c, bad(CodeInvalidParameter, "subscription_id", err.Error()))
		return
	}
	ctx := c.Request.Context()
	m, pos, err := s.publishedMessage(ctx, msgID, c.Param("app"))
	if err != nil {
		s.fail(c, err)
		return
	}
	var nowSub *projections.SubscriptionView
	s.Views.Read(func(v *projections.Views) {
		if sv := v.Subscriptions[subID]; sv != nil {
			cp := *sv
			nowSub = &cp
		}
	})
	if p := who(c); nowSub == nil || (p.role == domain.RoleApplication && nowSub.ApplicationID != p.app) {
		s.fail(c, notFound("subscription_id", "no subscription "+subID))
		return
	}
	then, existed, err := s.subscriptionAsOf(ctx, subID, asOfPoint{pos: pos})
	if err != nil {
		s.fail(c, err)
		return
	}
	var sv *projections.SubscriptionView
	if existed {
		sv = &then
	}
	out := gin.H{"message_id": m.MessageID, "event_type": m.EventType, "position": uint64(pos), "subscription_id": subID}
	x := explainMatch(sv, *nowSub, m)
	if x.pattern != "" {
		out["matched_pattern"] = x.pattern
	}
	if sv != nil {
		out["subscription_as_of"] = s.subOut(c, *sv)
	}
	out["delivery"] = nil
	attempts := []explainAttempt{}
	if d := s.deliveryNow(domain.DeliveryIDFor(msgID, subID)); d != nil {
		do := deliveryOut(*d)
		s.explainWait(&do)
		out["delivery"] = do
		if do.HeldBehind != "" {
			out["held"] = "the subscription delivers in order (fifo): this delivery waits for " + do.HeldBehind + ", an earlier message, to be acknowledged or given up"
		}
		var replay *replayed
		if attempts, replay, err = s.explainTimeline(ctx, d.ID); err != nil {
			s.fail(c, err)
			return
		}
		if replay != nil {
			x.decision, x.reason = "scheduled", "replay"
			x.detail += "; scheduled by replay (requested by " + replay.by + " at ledger position " + strconv.FormatUint(uint64(replay.at), 10) + ")"
			out["matched_pattern"] = replay.pattern
		}
		if d.Status == domain.DeliveryStatusCancelled && nowSub.Status == domain.StatusDeleted {
			x.detail += "; the subscription was deleted since, and the delivery cancelled"
		}
	}
	out["decision"], out["reason"], out["detail"] = x.decision, x.reason, x.detail
	out["timeline"] = attempts
	c.JSON(http.StatusOK, out)
}

// publishedMessage reads the event that published a message of app; a
// message of another application is not found.
func (s *Server) publishedMessage(ctx context.Context, msgID, app string) (domain.MessagePublished, domain.Position, error) {
	recs, err := s.Store.ReadStream(ctx, domain.MessageStream(msgID), 0, domain.Forward, 1)
	if errors.Is(err, domain.ErrStreamNotFound) {
		return domain.MessagePublished{}, 0, domain.ErrNotFound
	}
	if err != nil {
		return domain.MessagePublished{}, 0, err
	}
	ev, err := domain.DecodeEvent(recs[0])
	m, ok := ev.(domain.MessagePublished)
	if err != nil || !ok || m.ApplicationID != app {
		return domain.MessagePublished{}, 0, domain.ErrNotFound
	}
	return m, recs[0].Position, nil
}

// deliveryNow is a copy of the delivery's view (nil: none).
func (s *Server) deliveryNow(id string) *projections.DeliveryView {
	var d *projections.DeliveryView
	s.Views.Read(func(v *projections.Views) {
		if x := v.Delivery(id); x != nil {
			cp := *x
			d = &cp
		}
	})
	return d
}

// matchExplained is the fan-out's decision for one message and subscription.
type matchExplained struct {
	decision, reason, detail string
	pattern                  string // the filter that matched ("": none)
}

// explainMatch decides as the fan-out did: sv is the subscription as it
// stood at the message's position (nil: it did not exist yet), now as it
// stands.
func explainMatch(sv *projections.SubscriptionView, now projections.SubscriptionView, m domain.MessagePublished) matchExplained {
	x := matchExplained{decision: "not_scheduled"}
	switch {
	case sv == nil:
		x.reason, x.detail = "not_created_yet", "the subscription was created after the message (at position "+strconv.FormatUint(uint64(now.CreatedPosition), 10)+")"
	case sv.ApplicationID != m.ApplicationID:
		x.reason, x.detail = "other_application", "the subscription belongs to application "+sv.ApplicationID
	case sv.Status == domain.StatusDeleted:
		x.reason, x.detail = "deleted", "the subscription was deleted before the message"
	case sv.Status == domain.StatusDisabled:
		x.reason, x.detail = "disabled", "the subscription was disabled ("+sv.DisabledReason+") when the message was published"
	default:
		pattern, ok := sv.EventTypes.Match(m.EventType)
		if !ok {
			x.reason, x.detail = "no_filter_match", "event type "+m.EventType+" matches none of the subscription's patterns"
			break
		}
		x.decision, x.reason, x.detail, x.pattern = "scheduled", "matched", "event type "+m.EventType+" matched the pattern "+pattern, pattern
		if sv.Status == domain.StatusPaused {
			x.detail += "; the subscription was paused, so the delivery waited for the resume"
		}
	}
	return x
}

// replayed is who scheduled a delivery by replay, where, and the pattern the
// replay matched.
type replayed struct {
	by, pattern string
	at          domain.Position
}

// explainTimeline reads a delivery's stream as a timeline, and the last
// replay that scheduled it (nil: none did).
func (s *Server) explainTimeline(ctx context.Context, dlvID string) ([]explainAttempt, *replayed, error) {
	tl, err := s.Store.ReadStream(ctx, domain.DeliveryStream(dlvID), 0, domain.Forward, 10_000)
	if err != nil {
		return nil, nil, err
	}
	attempts := make([]explainAttempt, 0, len(tl))
	var replay *replayed
	for _, r := range tl {
		ev, md, err := domain.Decode(r)
		if err != nil {
			continue
		}
		if ds, ok := ev.(domain.DeliveryScheduled); ok && ds.ScheduledBy == domain.ScheduledByReplay {
			replay = &replayed{by: md.Actor, pattern: ds.MatchedPattern, at: ds.ReplayPosition}
		}
		attempts = append(attempts, timelineEntry(r, ev))
	}
	return attempts, replay, nil
}

// timelineEntry is one event of a delivery's stream, with what it says about
// the attempt.
func timelineEntry(r domain.RecordedEvent, ev domain.Event) explainAttempt {
	a := explainAttempt{Type: r.Type, Position: uint64(r.Position), At: r.Created}
	switch e := ev.(type) {
	case domain.AttemptStarted:
		a.Attempt = e.Attempt
	case domain.AttemptAcknowledged:
		a.Attempt, a.StatusCode = e.Attempt, e.StatusCode
	case domain.AttemptFailed:
		a.Attempt, a.StatusCode, a.ErrorClass, a.Detail = e.Attempt, e.StatusCode, e.ErrorClass, e.Error
	case domain.AttemptOutcomeUnknown:
		a.Attempt, a.Detail = e.Attempt, e.Reason
	case domain.RetryScheduled:
		a.Attempt, a.Detail = e.NextAttempt, "next attempt due "+e.DueAt.Format(time.RFC3339)
	case domain.DeliveryExhausted:
		a.Detail = e.Reason
	case domain.RedeliveryRequested:
		a.Detail = "by " + e.By + ": " + e.Reason
	case domain.DeliveryCancelled:
		a.Detail = e.Reason
	}
	return a
}
