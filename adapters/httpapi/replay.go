package httpapi

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
)

type replayIn struct {
	timeRange
	Reason string `json:"reason"`
}

// replaySubscription schedules the messages published in [since, until] that
// matched the subscription's filter at the time they were published and were
// never scheduled to it (typically: it was disabled then), leaving out those
// whose payload was erased. The request is
// recorded on the subscription's stream with its actor and reason, and every
// delivery it schedules names that record's position. A second identical
// request schedules nothing: the deliveries exist.
func (s *Server) replaySubscription(c *gin.Context) {
	var in replayIn
	id, since, until, ok := s.rangeRequest(c, &in)
	if !ok {
		return
	}
	app := c.Param("app")
	ctx := c.Request.Context()
	md := actor(c)
	_, rec, err := s.Commands.ChangeSubscription(ctx, app, id, domain.RequestReplay{Since: since, Until: until, Reason: strings.TrimSpace(in.Reason)}, md)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.settle(c, rec.Result.Position)
	candidates := s.unscheduledMessages(app, id, since, until)
	history, err := subscriptionHistory(ctx, s.Store, id)
	if err != nil {
		s.fail(c, err)
		return
	}
	md.CausationID = ""
	scheduled, erased, last := 0, 0, rec.Result.Position
	for _, m := range candidates {
		sub, rev, ok := history.at(m.Position)
		if !ok || sub.ApplicationID != app || sub.Status == domain.StatusDeleted {
			continue
		}
		pattern, ok := sub.EventTypes.Match(m.EventType)
		if !ok {
			continue
		}
		// A message whose payload was erased has nothing to send: its
		// delivery would be cancelled as soon as it is due.
		if e, err := s.payloadErasure(ctx, m.ID); err != nil {
			s.fail(c, err)
			return
		} else if e != nil {
			erased++
			continue
		}
		md.CorrelationID = m.ID
		_, out, err := s.Commands.ChangeDelivery(ctx, domain.DeliveryIDFor(m.ID, id), domain.ScheduleDelivery{
			MessageID: m.ID, SubscriptionID: id, ApplicationID: app, EventType: m.EventType,
			SubscriptionRevision: rev, MatchedPattern: pattern, MessagePosition: m.Position,
			FirstDelay: domain.PolicyFromMS(sub.RetryScheduleMS).Schedule[0], ReplayPosition: rec.Result.Position,
		}, md)
		if errors.Is(err, domain.ErrAlreadyExists) {
			continue // scheduled meanwhile (by the fan-out or another replay)
		}
		if err != nil {
			s.fail(c, err)
			return
		}
		scheduled++
		last = out.Result.Position
	}
	s.settle(c, last)
	c.JSON(http.StatusOK, gin.H{"scheduled": scheduled, "considered": len(candidates), "erased": erased, "replay_position": uint64(rec.Result.Position)})
}

// unscheduledMessages lists the application's messages published in
// [since, until] that have no delivery to sub, in publishing order.
func (s *Server) unscheduledMessages(app, sub string, since, until time.Time) []projections.MessageView {
	var out []projections.MessageView
	s.Views.Read(func(v *projections.Views) {
		v.Records().MessagesOfApp(app, 0, func(m *projections.MessageView) bool {
			if m.PublishedAt.Before(since.Add(-timeSlack)) {
				return false // newest first: everything further is older
			}
			if m.PublishedAt.Before(since) || m.PublishedAt.After(until) || slices.Contains(m.Deliveries, domain.DeliveryIDFor(m.ID, sub)) {
				return true
			}
			out = append(out, *m)
			return true
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Position < out[j].Position })
	return out
}

// subHistory is a subscription's stream, to fold it up to any position: the
// point-in-time state a replay matches against, read from the entity's own
// short stream rather than from $all.
type subHistory []domain.RecordedEvent

func subscriptionHistory(ctx context.Context, store domain.EventStore, id string) (subHistory, error) {
	var out subHistory
	for from := uint64(0); ; {
		page, err := store.ReadStream(ctx, domain.SubscriptionStream(id), from, domain.Forward, 256)
		if errors.Is(err, domain.ErrStreamNotFound) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < 256 {
			return out, nil
		}
		from = page[len(page)-1].Revision + 1
	}
}

// at folds the events up to pos; ok is false if the subscription did not
// exist yet.
func (h subHistory) at(pos domain.Position) (domain.Subscription, uint64, bool) {
	var sub domain.Subscription
	var rev uint64
	for _, rec := range h {
		if rec.Position > pos {
			break
		}
		ev, err := domain.DecodeEvent(rec)
		if err != nil {
			continue
		}
		sub, rev = domain.EvolveSubscription(sub, ev), rec.Revision
	}
	return sub, rev, sub.Exists()
}

type disableIn struct {
	Reason string `json:"reason"`
}

// disableSubscription is the operator's stop: the subscription gets no new
// deliveries (its pending ones wait) until resumed, and the ledger records
// who disabled it and why.
func (s *Server) disableSubscription(c *gin.Context) {
	var in disableIn
	if err := decodeJSON(c, smallBody, &in); err != nil {
		s.fail(c, err)
		return
	}
	reason := strings.TrimSpace(in.Reason)
	if reason == "" {
		s.fail(c, bad(CodeValidationFailed, "reason", "reason is required: say why the subscription is disabled"))
		return
	}
	s.changeSubscription(c, domain.DisableSubscription{Reason: domain.DisabledByOperator, Detail: reason}, http.StatusOK, "")
}
