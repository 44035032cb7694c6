package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/hookledger/hookledger/adapters/audit"
	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
)

func (s *Server) listDeliveries(c *gin.Context) {
	q, err := parseListQuery(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	status := c.Query("status")
	switch status {
	case "", "pending", "acknowledged", "failed", "exhausted", "cancelled":
	default:
		s.fail(c, bad(CodeInvalidParameter, "status", "status must be pending, acknowledged, failed, exhausted or cancelled"))
		return
	}
	subID, msgID := c.Query("subscription_id"), c.Query("message_id")
	for name, v := range map[string]string{"subscription_id": subID, "message_id": msgID} {
		if v != "" {
			if err := domain.ValidateID(name, v); err != nil {
				s.fail(c, bad(CodeInvalidParameter, name, err.Error()))
				return
			}
		}
	}
	app := c.Param("app")
	out := page[deliveryJSON]{Items: []deliveryJSON{}}
	s.Views.Read(func(v *projections.Views) {
		var before domain.Position
		if q.hasCursor {
			before = domain.Position(q.cursor)
		}
		sc := scan{budget: scanBudget}
		visit := func(d *projections.DeliveryView) bool {
			if d.ApplicationID != app || (before > 0 && d.ScheduledPosition >= before) {
				return sc.next(d.ScheduledPosition)
			}
			if (status != "" && apiStatus(d.Status) != status) || !matches(q.eventTypes, d.EventType) || (subID != "" && d.SubscriptionID != subID) || (msgID != "" && d.MessageID != msgID) || !q.inRange(d.ScheduledAt) {
				return sc.next(d.ScheduledPosition)
			}
			if len(out.Items) == q.limit {
				sc.full = true
				return false
			}
			out.Items = append(out.Items, deliveryOut(*d))
			sc.last = d.ScheduledPosition
			return sc.next(d.ScheduledPosition)
		}
		switch {
		case msgID != "":
			if m := v.Message(msgID); m != nil {
				deliveriesOfMessage(v, m, before, visit)
			}
		case subID != "":
			v.Records().DeliveriesOfSubscription(subID, before, visit)
		default:
			v.Records().DeliveriesOfApp(app, before, visit)
		}
		out.NextCursor = sc.cursor()
	})
	for i := range out.Items { // outside Read: the reason takes the pipeline's lock
		s.explainWait(&out.Items[i])
	}
	c.JSON(http.StatusOK, out)
}

// explainWait adds why a due delivery is held, when the pipeline knows: a
// pending one, or a failed one whose retry is due.
func (s *Server) explainWait(d *deliveryJSON) {
	open := d.Status == string(domain.DeliveryStatusPending) || d.Status == string(domain.DeliveryStatusFailed)
	if w, ok := s.Views.(interface{ WaitingReason(string) string }); ok && open {
		d.WaitingReason = w.WaitingReason(d.ID)
	}
	if h, ok := s.Views.(interface{ HeldBehind(string) string }); ok && d.WaitingReason != "" {
		d.HeldBehind = h.HeldBehind(d.ID)
	}
}

// delivery looks a delivery up for the principal (another application's
// delivery is not found).
func (s *Server) delivery(c *gin.Context) (projections.DeliveryView, bool) {
	id, err := pathID(c, "dlv")
	if err != nil {
		s.fail(c, err)
		return projections.DeliveryView{}, false
	}
	d := s.deliveryNow(id)
	if d == nil || !visible(who(c), d.ApplicationID) {
		s.fail(c, domain.ErrNotFound)
		return projections.DeliveryView{}, false
	}
	return *d, true
}

func (s *Server) getDelivery(c *gin.Context) {
	if d, ok := s.delivery(c); ok {
		o := deliveryOut(d)
		s.explainWait(&o)
		c.JSON(http.StatusOK, o)
	}
}

type eventJSON struct {
	Position   uint64     `json:"position"`
	Stream     string     `json:"stream"`
	Revision   uint64     `json:"revision"`
	ID         string     `json:"id"`
	Type       string     `json:"type"`
	RecordedAt *time.Time `json:"recorded_at,omitempty"`
	Created    time.Time  `json:"created"`
	Actor      string     `json:"actor,omitempty"`
	// ActorName: the actor as people read it, "admin-ci (admin)" for a key.
	ActorName string `json:"actor_name,omitempty"`
	// Payload marks a message whose payload was erased (the data holds the
	// ciphertext it always held).
	Payload  *erasedPayload  `json:"payload,omitempty"`
	Metadata json.RawMessage `json:"metadata"`
	Data     json.RawMessage `json:"data"`
}

func rawOrString(b []byte) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage("null")
	}
	if json.Valid(b) {
		return json.RawMessage(b)
	}
	q, _ := json.Marshal(string(b))
	return q
}

// redactSecrets hides signing secrets and credential header values in the
// events that carry them: the ledger keeps them (signing and sending need
// them after a rebuild), the API never shows them.
func redactSecrets(r domain.RecordedEvent) []byte {
	b, _ := domain.RedactEventData(r.Type, r.Data)
	return b
}

func eventOut(r domain.RecordedEvent) eventJSON {
	e := eventJSON{Position: uint64(r.Position), Stream: r.Stream, Revision: r.Revision, ID: r.ID, Type: r.Type,
		Created: r.Created, Metadata: rawOrString(r.Metadata), Data: rawOrString(redactSecrets(r))}
	var md domain.Metadata
	if json.Unmarshal(r.Metadata, &md) == nil {
		e.RecordedAt, e.Actor = timePtr(md.RecordedAt), md.Actor
	}
	return e
}

// eventsOut is eventOut for a page of events, with the actors' names.
func (s *Server) eventsOut(recs []domain.RecordedEvent) []eventJSON {
	out := make([]eventJSON, 0, len(recs))
	for _, r := range recs {
		out = append(out, eventOut(r))
	}
	s.Views.Read(func(v *projections.Views) {
		for i := range out {
			if a := out[i].Actor; a != "" {
				out[i].ActorName = domain.ActorName(a, v.Keys[a])
			}
		}
	})
	if ek, ok := s.Cipher.(audit.ErasedKeys); ok {
		for i, r := range recs {
			if r.Type != domain.TypeMessagePublished {
				continue
			}
			if ev, err := domain.DecodeEvent(r); err == nil {
				if m := ev.(domain.MessagePublished); m.Sealed != nil {
					if id, at, gone, err := ek.Destroyed(m.Sealed.KeyID); err == nil && gone {
						out[i].Payload = &erasedPayload{Erased: true, ErasureID: id, ErasedAt: at}
					}
				}
			}
		}
	}
	return out
}

func (s *Server) deliveryTimeline(c *gin.Context) {
	d, ok := s.delivery(c)
	if !ok {
		return
	}
	recs, err := s.Store.ReadStream(c.Request.Context(), domain.DeliveryStream(d.ID), 0, domain.Forward, 10_000)
	if err != nil {
		s.fail(c, err)
		return
	}
	items := s.eventsOut(recs)
	for i := range items {
		s.openExcerpt(c.Request.Context(), d.MessageID, &items[i])
	}
	c.JSON(http.StatusOK, page[eventJSON]{Items: items})
}

// openExcerpt shows an attempt's encrypted response excerpt decrypted (or
// says it was erased) in a timeline; the raw ledger reads show it sealed.
func (s *Server) openExcerpt(ctx context.Context, msgID string, e *eventJSON) {
	if (e.Type != domain.TypeAttemptAcknowledged && e.Type != domain.TypeAttemptFailed) || !bytes.Contains(e.Data, []byte(`"response_excerpt_sealed"`)) {
		return
	}
	var data map[string]json.RawMessage
	var v domain.SealedValue
	if json.Unmarshal(e.Data, &data) != nil || json.Unmarshal(data["response_excerpt_sealed"], &v) != nil {
		return
	}
	delete(data, "response_excerpt_sealed")
	var erased *domain.ErasedError
	if plain, err := s.openSealed(ctx, domain.ExcerptAAD(msgID), &v); err == nil {
		data["response_excerpt"], _ = json.Marshal(string(plain))
	} else if errors.As(err, &erased) {
		data["response_excerpt_erased_by"], _ = json.Marshal(erased.ErasureID)
	} else {
		return
	}
	if b, err := json.Marshal(data); err == nil {
		e.Data = b
	}
}

func (s *Server) openSealed(ctx context.Context, aad string, v *domain.SealedValue) ([]byte, error) {
	if s.Cipher == nil {
		return nil, errors.New("no key store")
	}
	return s.Cipher.Open(ctx, aad, v)
}

type redeliverIn struct {
	Reason string `json:"reason"`
}

func (s *Server) redeliver(c *gin.Context) {
	d, ok := s.delivery(c)
	if !ok {
		return
	}
	var in redeliverIn
	if c.Request.ContentLength != 0 {
		if err := decodeJSON(c, smallBody, &in); err != nil {
			s.fail(c, err)
			return
		}
	}
	// A deleted subscription's deliveries are cancelled as soon as they are
	// due: a redelivery recorded for one would only turn a delivery that
	// was acknowledged into one that reads cancelled.
	var deleted bool
	s.Views.Read(func(v *projections.Views) {
		sv := v.Subscriptions[d.SubscriptionID]
		deleted = sv == nil || sv.Status == domain.StatusDeleted
	})
	if deleted {
		s.fail(c, &badInput{status: http.StatusConflict, code: CodeConflict,
			detail: "subscription " + d.SubscriptionID + " was deleted: its deliveries are not sent again"})
		return
	}
	// Nor is a message whose payload was erased: there is nothing to send,
	// and the delivery would be cancelled as soon as it is due.
	erased, err := s.payloadErasure(c.Request.Context(), d.MessageID)
	if err != nil {
		s.fail(c, err)
		return
	}
	if erased != nil {
		s.fail(c, &badInput{status: http.StatusConflict, code: CodeConflict,
			detail: "the payload of message " + d.MessageID + " was erased by " + erased.ErasureID + ": there is nothing to send again"})
		return
	}
	md := actor(c)
	md.CorrelationID = d.MessageID
	_, out, err := s.Commands.ChangeDelivery(c.Request.Context(), d.ID, domain.RequestRedelivery{By: md.Actor, Reason: in.Reason}, md)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.settle(c, out.Result.Position)
	d, _ = s.delivery(c)
	c.JSON(http.StatusAccepted, deliveryOut(d))
}

// deliveriesOfMessage visits m's deliveries newest first, starting with the
// newest scheduled before `before` (0: the newest of all). m.Deliveries is
// in the order the fold met their schedules, so in ascending positions: a
// page is found by bisection, reading a few records and the page's, not
// every delivery of a message fanned out to thousands of subscriptions.
func deliveriesOfMessage(v *projections.Views, m *projections.MessageView, before domain.Position, visit func(*projections.DeliveryView) bool) {
	ids := m.Deliveries
	end := len(ids)
	if before > 0 {
		end = sort.Search(len(ids), func(i int) bool {
			d := v.Delivery(ids[i])
			return d != nil && d.ScheduledPosition >= before
		})
	}
	for i := end - 1; i >= 0; i-- {
		if d := v.Delivery(ids[i]); d != nil && !visit(d) {
			return
		}
	}
}
