package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/hookledger/hookledger/adapters/ids"
	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
)

type publishIn struct {
	EventType      string          `json:"event_type"`
	Payload        json.RawMessage `json:"payload"`
	IdempotencyKey string          `json:"idempotency_key"`
	Subject        string          `json:"subject"`
}

// publishedOut answers a publish. A struct, not a map: every publish encodes
// one, and a map's keys are sorted and reflected on each time (a third of
// the encoding's cost).
type publishedOut struct {
	ID        string `json:"id"`
	Position  uint64 `json:"position"`
	Duplicate bool   `json:"duplicate,omitempty"`
}

// writePublished answers a publish as c.JSON would, byte for byte, written
// by hand when the id needs no escaping (every id the API makes): it is one
// encoding per publish, and encoding/json's reflection cost more than the
// rest of the answer.
func writePublished(c *gin.Context, status int, out publishedOut) {
	for i := 0; i < len(out.ID); i++ {
		if b := out.ID[i]; b < 0x20 || b >= 0x80 || b == '"' || b == '\\' || b == '<' || b == '>' || b == '&' {
			c.JSON(status, out)
			return
		}
	}
	b := make([]byte, 0, len(`{"id":"","position":18446744073709551615,"duplicate":true}`)+len(out.ID))
	b = append(b, `{"id":"`...)
	b = append(b, out.ID...)
	b = append(b, `","position":`...)
	b = strconv.AppendUint(b, out.Position, 10)
	if out.Duplicate {
		b = append(b, `,"duplicate":true`...)
	}
	c.Data(status, "application/json; charset=utf-8", append(b, '}'))
}

// admit refuses a publish while the pipeline is too far behind ingest.
func (s *Server) admit(c *gin.Context) bool {
	cp, ok := s.Views.(interface{ Checkpoint() domain.Position })
	if s.MaxIngestLag == 0 || !ok {
		return true
	}
	published, folded := s.published.Load(), uint64(cp.Checkpoint())
	if published <= folded || published-folded <= s.MaxIngestLag {
		return true
	}
	c.Header("Retry-After", "1")
	writeProblem(c, http.StatusServiceUnavailable, CodeOverloaded, fmt.Sprintf(
		"the delivery pipeline is %d events behind what was accepted (bound %d): retry after 1 s; nothing was written", published-folded, s.MaxIngestLag), "")
	return false
}

func (s *Server) publish(c *gin.Context) {
	// The system application's messages are hookledger's own alerts, signed
	// to the operators' endpoints: one published through the API would be
	// a forged alert they cannot tell from a real one.
	if c.Param("app") == domain.SystemApplicationID {
		writeProblem(c, http.StatusForbidden, CodeForbidden, domain.SystemApplicationID+"'s messages are hookledger's own operational events: only hookledger publishes them", "")
		return
	}
	if !s.admit(c) {
		return
	}
	var in publishIn
	if err := decodeJSONFast(c, int64(s.MaxPayload)+smallBody, &in); err != nil {
		var b *badInput
		if errors.As(err, &b) && b.code == CodePayloadTooLarge {
			// The body's limit is the payload's plus room for the rest:
			// the payload's is the one to name.
			err = bad(CodePayloadTooLarge, "payload", fmt.Sprintf("%s: a message's payload may be at most %d bytes", b.detail, s.MaxPayload))
		}
		s.fail(c, err)
		return
	}
	if len(in.Payload) == 0 || string(in.Payload) == "null" {
		s.fail(c, bad(CodeValidationFailed, "payload", "payload is required: a JSON object"))
		return
	}
	// Standard Webhooks payloads are objects, and receivers' libraries
	// expect one: an array, a string, a number or a boolean is refused.
	if p := bytes.TrimLeft(in.Payload, " \t\r\n"); len(p) == 0 || p[0] != '{' {
		s.fail(c, bad(CodeInvalidType, "payload", "payload must be a JSON object ({...}), not an array, string, number or boolean"))
		return
	}
	key := in.IdempotencyKey
	if vs := c.Request.Header.Values("Idempotency-Key"); len(vs) > 1 {
		// Which one the client meant is not ours to guess: taking the first
		// could make a retry, sent with the other, publish twice.
		s.fail(c, bad(CodeInvalidHeader, "Idempotency-Key", fmt.Sprintf("the Idempotency-Key header is given %d times: give it once", len(vs))))
		return
	}
	if h := c.GetHeader("Idempotency-Key"); h != "" {
		if key != "" && key != h {
			s.fail(c, bad(CodeValidationFailed, "idempotency_key", "the Idempotency-Key header and the body's idempotency_key differ"))
			return
		}
		key = h
	}
	app := c.Param("app")
	deprecated, err := s.checkCatalog(app, in.EventType, in.Payload)
	if err != nil {
		s.fail(c, err)
		return
	}
	if deprecated {
		c.Header("Warning", `299 hookledger "event type `+in.EventType+` is deprecated"`)
	}
	cmd := domain.PublishMessage{ApplicationID: app, EventType: in.EventType, Payload: in.Payload, IdempotencyKey: key, Subject: in.Subject, MaxPayload: s.MaxPayload}
	ctx := c.Request.Context()
	if key == "" {
		cmd.MessageID = ids.New(domain.PrefixMessage)
		_, res, err := s.Commands.PublishNew(ctx, cmd, actor(c))
		if err != nil {
			s.fail(c, err)
			return
		}
		s.notePublished(res.Position)
		answerPosition(c, res.Position)
		writePublished(c, http.StatusAccepted, publishedOut{ID: cmd.MessageID, Position: uint64(res.Position)})
		return
	}
	cmd.MessageID = domain.MessageIDForKey(app, key)
	_, out, err := s.Commands.Publish(ctx, cmd, actor(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	if len(out.Events) > 0 {
		s.notePublished(out.Result.Position)
		answerPosition(c, out.Result.Position)
		writePublished(c, http.StatusAccepted, publishedOut{ID: cmd.MessageID, Position: uint64(out.Result.Position)})
		return
	}
	// A duplicate: answer with the first message.
	recs, err := s.Store.ReadStream(ctx, domain.MessageStream(cmd.MessageID), 0, domain.Forward, 1)
	if err != nil {
		s.fail(c, err)
		return
	}
	writePublished(c, http.StatusOK, publishedOut{ID: cmd.MessageID, Position: uint64(recs[0].Position), Duplicate: true})
}

func (s *Server) listMessages(c *gin.Context) {
	q, err := parseListQuery(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	out := page[messageJSON]{Items: []messageJSON{}}
	s.Views.Read(func(v *projections.Views) {
		var before domain.Position
		if q.hasCursor {
			before = domain.Position(q.cursor)
		}
		sc := scan{budget: scanBudget}
		v.Records().MessagesOfApp(c.Param("app"), before, func(m *projections.MessageView) bool {
			if !matches(q.eventTypes, m.EventType) || !q.inRange(m.PublishedAt) {
				return sc.next(m.Position)
			}
			if len(out.Items) == q.limit {
				sc.full = true
				return false
			}
			out.Items = append(out.Items, messageOut(*m))
			sc.last = m.Position
			return sc.next(m.Position)
		})
		out.NextCursor = sc.cursor()
	})
	c.JSON(http.StatusOK, out)
}

// messageDeliveriesInline bounds the deliveries a message's answer lists: a
// message fanned out to thousands of subscriptions would otherwise read
// them all from the view store, under its read lock, for one request.
const messageDeliveriesInline = 100

func (s *Server) getMessage(c *gin.Context) {
	id, err := pathID(c, "msg")
	if err != nil {
		s.fail(c, err)
		return
	}
	recs, err := s.Store.ReadStream(c.Request.Context(), domain.MessageStream(id), 0, domain.Forward, 1)
	if errors.Is(err, domain.ErrStreamNotFound) {
		s.fail(c, domain.ErrNotFound)
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	ev, err := domain.DecodeEvent(recs[0])
	if err != nil {
		s.fail(c, err)
		return
	}
	m, ok := ev.(domain.MessagePublished)
	if !ok || m.ApplicationID != c.Param("app") {
		s.fail(c, domain.ErrNotFound)
		return
	}
	out := messageJSON{ID: m.MessageID, ApplicationID: m.ApplicationID, EventType: m.EventType, PayloadHash: m.PayloadHash,
		IdempotencyKey: m.IdempotencyKey, Subject: m.Subject, PublishedAt: m.PublishedAt, Position: uint64(recs[0].Position),
		Deliveries: []deliveryBrief{}}
	if err := s.setPayload(c, &out, m); err != nil {
		s.fail(c, err)
		return
	}
	s.Views.Read(func(v *projections.Views) {
		if mv := v.Message(id); mv != nil {
			out.DeliveryCount = len(mv.Deliveries)
			inline := mv.Deliveries
			if len(inline) > messageDeliveriesInline {
				inline = inline[:messageDeliveriesInline]
				out.MoreDeliveries = "/v1/applications/" + m.ApplicationID + "/deliveries?message_id=" + id
			}
			for _, did := range inline {
				d := v.Delivery(did)
				if d == nil {
					continue
				}
				out.Deliveries = append(out.Deliveries, deliveryBrief{ID: d.ID, SubscriptionID: d.SubscriptionID, Status: apiStatus(d.Status), Attempts: d.Attempts})
			}
		}
	})
	c.JSON(http.StatusOK, out)
}

// payloadErasure returns the erasure that made message id's payload
// unreadable, or nil when it can be read (or is kept in the clear).
func (s *Server) payloadErasure(ctx context.Context, id string) (*domain.ErasedError, error) {
	recs, err := s.Store.ReadStream(ctx, domain.MessageStream(id), 0, domain.Forward, 1)
	if err != nil {
		return nil, err
	}
	ev, err := domain.DecodeEvent(recs[0])
	if err != nil {
		return nil, err
	}
	m, ok := ev.(domain.MessagePublished)
	if !ok {
		return nil, fmt.Errorf("message %s: its stream opens with %s", id, recs[0].Type)
	}
	_, err = domain.OpenPayload(ctx, s.Cipher, m)
	var erased *domain.ErasedError
	if errors.As(err, &erased) {
		return erased, nil
	}
	return nil, err
}

// setPayload puts the message's payload in out: decrypted when the ledger
// holds it encrypted, or the erasure that made it unreadable.
func (s *Server) setPayload(c *gin.Context, out *messageJSON, m domain.MessagePublished) error {
	out.Encrypted = m.Sealed != nil
	body, err := domain.OpenPayload(c.Request.Context(), s.Cipher, m)
	var erased *domain.ErasedError
	if errors.As(err, &erased) {
		out.Payload = erasedPayload{Erased: true, ErasureID: erased.ErasureID, ErasedAt: erased.ErasedAt}
		out.PayloadErased = &erasedPayload{Erased: true, ErasureID: erased.ErasureID, ErasedAt: erased.ErasedAt}
		return nil
	}
	if err != nil {
		return err
	}
	out.Payload = json.RawMessage(body)
	return nil
}
