package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/hookledger/hookledger/adapters/ids"
	"github.com/hookledger/hookledger/adapters/sender"
	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
)

const smallBody = 64 << 10

// ---- keys ----

type createKeyIn struct {
	Role        string `json:"role"`
	Application string `json:"application"`
	Name        string `json:"name"`
}

type keyOut struct {
	ID          string     `json:"id"`
	Key         string     `json:"key,omitempty"`
	Role        string     `json:"role"`
	Application string     `json:"application,omitempty"`
	Name        string     `json:"name,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	Revoked     bool       `json:"revoked"`
	RevokedAt   *time.Time `json:"revoked_at,omitempty"`
}

func keyOutOf(k domain.APIKey) keyOut {
	return keyOut{ID: k.ID, Role: k.Role, Application: k.ApplicationID, Name: k.Name, CreatedAt: k.CreatedAt, Revoked: k.Revoked, RevokedAt: timePtr(k.RevokedAt)}
}

func (s *Server) createKey(c *gin.Context) {
	var in createKeyIn
	if err := decodeJSON(c, smallBody, &in); err != nil {
		s.fail(c, err)
		return
	}
	key := NewAPIKey()
	hash := domain.HashAPIKey(key)
	k, out, err := s.Commands.CreateAPIKey(c.Request.Context(), domain.CreateAPIKey{
		KeyID: domain.KeyIDForHash(hash), Role: in.Role, ApplicationID: in.Application, Hash: hash, Name: in.Name,
	}, actor(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	s.settle(c, out.Result.Position)
	o := keyOutOf(k)
	o.Key = key
	c.JSON(http.StatusCreated, o)
}

// NewAPIKey draws a new API key: "hlk_" and 32 random bytes.
func NewAPIKey() string { return ids.NewToken("hlk_", 32) }

func (s *Server) listKeys(c *gin.Context) {
	limit, err := parseLimit(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	var keys []domain.APIKey
	s.Views.Read(func(v *projections.Views) {
		for _, k := range v.Keys {
			keys = append(keys, *k)
		}
	})
	sort.Slice(keys, func(i, j int) bool { return keys[i].ID < keys[j].ID })
	after := c.Query("cursor")
	out := page[keyOut]{Items: []keyOut{}}
	for _, k := range keys {
		if after != "" && k.ID <= after {
			continue
		}
		if len(out.Items) == limit {
			out.NextCursor = out.Items[len(out.Items)-1].ID
			break
		}
		out.Items = append(out.Items, keyOutOf(k))
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) revokeKey(c *gin.Context) {
	id, err := pathID(c, "key")
	if err != nil {
		s.fail(c, err)
		return
	}
	_, out, err := s.Commands.RevokeAPIKey(c.Request.Context(), id, actor(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	s.settle(c, out.Result.Position)
	c.Status(http.StatusNoContent)
}

// ---- applications ----

type createApplicationIn struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

func (s *Server) createApplication(c *gin.Context) {
	var in createApplicationIn
	if err := decodeJSON(c, smallBody, &in); err != nil {
		s.fail(c, err)
		return
	}
	if in.ID == "" {
		in.ID = ids.New(domain.PrefixApplication)
	}
	a, out, err := s.Commands.CreateApplication(c.Request.Context(), domain.CreateApplication{ApplicationID: in.ID, Name: in.Name}, actor(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	s.settle(c, out.Result.Position)
	c.JSON(http.StatusCreated, applicationOut(a))
}

func (s *Server) listApplications(c *gin.Context) {
	limit, err := parseLimit(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	var apps []domain.Application
	s.Views.Read(func(v *projections.Views) {
		for _, a := range v.Applications {
			apps = append(apps, a)
		}
	})
	sort.Slice(apps, func(i, j int) bool { return apps[i].ID < apps[j].ID })
	after := c.Query("cursor")
	out := page[applicationJSON]{Items: []applicationJSON{}}
	for _, a := range apps {
		if after != "" && a.ID <= after {
			continue
		}
		if len(out.Items) == limit {
			out.NextCursor = out.Items[len(out.Items)-1].ID
			break
		}
		out.Items = append(out.Items, applicationOut(a))
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) getApplication(c *gin.Context) {
	var a domain.Application
	s.Views.Read(func(v *projections.Views) { a = v.Applications[c.Param("app")] })
	c.JSON(http.StatusOK, applicationOut(a))
}

// ---- subscriptions ----

type createSubscriptionIn struct {
	ID              string            `json:"id"`
	URL             string            `json:"url"`
	EventTypes      []string          `json:"event_types"`
	Description     string            `json:"description"`
	Headers         map[string]string `json:"headers"`
	Secret          string            `json:"secret"`
	RetryScheduleMS []int64           `json:"retry_schedule_ms"`
}

func (s *Server) checkTarget(ctx context.Context, url string) error {
	if s.AllowPrivateTargets {
		return nil
	}
	if err := domain.ValidateEndpointURL(url); err != nil {
		return err
	}
	return sender.CheckURL(ctx, url, nil)
}

func (s *Server) createSubscription(c *gin.Context) {
	var in createSubscriptionIn
	if err := decodeJSON(c, smallBody, &in); err != nil {
		s.fail(c, err)
		return
	}
	if in.ID == "" {
		in.ID = ids.New(domain.PrefixSubscription)
	}
	if in.Secret == "" {
		in.Secret = ids.NewSecret()
	}
	if err := s.checkTarget(c.Request.Context(), in.URL); err != nil {
		s.fail(c, err)
		return
	}
	_, out, err := s.Commands.CreateSubscription(c.Request.Context(), domain.CreateSubscription{
		SubscriptionID: in.ID, ApplicationID: c.Param("app"), URL: in.URL, EventTypes: in.EventTypes,
		Description: in.Description, Headers: in.Headers, RetryScheduleMS: in.RetryScheduleMS, Secret: in.Secret,
	}, actor(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	s.settle(c, out.Result.Position)
	sv, ok := s.subscriptionView(c.Param("app"), in.ID)
	if !ok {
		s.fail(c, domain.ErrNotFound)
		return
	}
	o := subscriptionOut(sv)
	o.Secret = in.Secret
	c.JSON(http.StatusCreated, o)
}

func (s *Server) subscriptionView(app, id string) (projections.SubscriptionView, bool) {
	var sv projections.SubscriptionView
	ok := false
	s.Views.Read(func(v *projections.Views) {
		if p := v.Subscriptions[id]; p != nil && p.ApplicationID == app && p.Status != domain.StatusDeleted {
			sv, ok = *p, true
		}
	})
	return sv, ok
}

func (s *Server) listSubscriptions(c *gin.Context) {
	limit, err := parseLimit(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	cursor, hasCursor, err := parseCursor(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	status := c.Query("status")
	switch status {
	case "", "active", "paused", "disabled":
	default:
		s.fail(c, bad(CodeInvalidParameter, "status", "status must be active, paused or disabled"))
		return
	}
	out := page[subscriptionJSON]{Items: []subscriptionJSON{}}
	pos, at, asOf, err := parseAsOf(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	read := s.Views.Read
	if asOf {
		v, err := s.asOf(c.Request.Context(), pos, at)
		if err != nil {
			s.fail(c, err)
			return
		}
		read = func(fn func(*projections.Views)) { fn(v) }
		c.Header("X-As-Of-Position", strconv.FormatUint(uint64(v.Checkpoint), 10))
	}
	read(func(v *projections.Views) {
		for _, sv := range v.SubscriptionsOf(c.Param("app")) {
			if sv.Status == domain.StatusDeleted || (status != "" && string(sv.Status) != status) {
				continue
			}
			if hasCursor && uint64(sv.CreatedPosition) <= cursor {
				continue
			}
			if len(out.Items) == limit {
				out.NextCursor = encodeCursor(out.Items[len(out.Items)-1].createdPos)
				break
			}
			o := subscriptionOut(*sv)
			o.createdPos = uint64(sv.CreatedPosition)
			out.Items = append(out.Items, o)
		}
	})
	c.JSON(http.StatusOK, out)
}

func (s *Server) getSubscription(c *gin.Context) {
	id, err := pathID(c, "sub")
	if err != nil {
		s.fail(c, err)
		return
	}
	pos, at, asOf, err := parseAsOf(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	if asOf {
		v, err := s.asOf(c.Request.Context(), pos, at)
		if err != nil {
			s.fail(c, err)
			return
		}
		sv := v.Subscriptions[id]
		if sv == nil || sv.ApplicationID != c.Param("app") {
			s.fail(c, domain.ErrNotFound)
			return
		}
		o := subscriptionOut(*sv)
		o.AsOfPosition = uint64(v.Checkpoint)
		c.Header("X-As-Of-Position", strconv.FormatUint(uint64(v.Checkpoint), 10))
		c.JSON(http.StatusOK, o)
		return
	}
	sv, ok := s.subscriptionView(c.Param("app"), id)
	if !ok {
		s.fail(c, domain.ErrNotFound)
		return
	}
	c.JSON(http.StatusOK, subscriptionOut(sv))
}

type updateSubscriptionIn struct {
	URL             *string           `json:"url"`
	EventTypes      []string          `json:"event_types"`
	Description     *string           `json:"description"`
	Headers         map[string]string `json:"headers"`
	RetryScheduleMS []int64           `json:"retry_schedule_ms"`
}

func (s *Server) updateSubscription(c *gin.Context) {
	var in updateSubscriptionIn
	if err := decodeJSON(c, smallBody, &in); err != nil {
		s.fail(c, err)
		return
	}
	if in.URL != nil {
		if err := s.checkTarget(c.Request.Context(), *in.URL); err != nil {
			s.fail(c, err)
			return
		}
	}
	cmd := domain.UpdateSubscription{URL: in.URL, Description: in.Description, Headers: in.Headers, RetryScheduleMS: in.RetryScheduleMS}
	if in.EventTypes != nil {
		cmd.EventTypes = domain.Filters(in.EventTypes)
	}
	s.changeSubscription(c, cmd, http.StatusOK, "")
}

func (s *Server) changeSubscription(c *gin.Context, cmd any, status int, secret string) {
	id, err := pathID(c, "sub")
	if err != nil {
		s.fail(c, err)
		return
	}
	_, out, err := s.Commands.ChangeSubscription(c.Request.Context(), c.Param("app"), id, cmd, actor(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	s.settle(c, out.Result.Position)
	if status == http.StatusNoContent {
		c.Status(status)
		return
	}
	sv, ok := s.subscriptionView(c.Param("app"), id)
	if !ok {
		s.fail(c, domain.ErrNotFound)
		return
	}
	o := subscriptionOut(sv)
	o.Secret = secret
	c.JSON(status, o)
}

func (s *Server) deleteSubscription(c *gin.Context) {
	s.changeSubscription(c, domain.DeleteSubscription{}, http.StatusNoContent, "")
}
func (s *Server) pauseSubscription(c *gin.Context) {
	s.changeSubscription(c, domain.PauseSubscription{}, http.StatusOK, "")
}
func (s *Server) resumeSubscription(c *gin.Context) {
	s.changeSubscription(c, domain.ResumeSubscription{}, http.StatusOK, "")
}

type rotateIn struct {
	Secret       string `json:"secret"`
	GraceSeconds *int64 `json:"grace_seconds"`
}

func (s *Server) rotateSecret(c *gin.Context) {
	var in rotateIn
	if c.Request.ContentLength != 0 {
		if err := decodeJSON(c, smallBody, &in); err != nil {
			s.fail(c, err)
			return
		}
	}
	if in.Secret == "" {
		in.Secret = ids.NewSecret()
	}
	grace := 24 * time.Hour
	if in.GraceSeconds != nil {
		if *in.GraceSeconds < 0 || *in.GraceSeconds > int64(domain.MaxRotationGrace/time.Second) {
			s.fail(c, bad(CodeValidationFailed, "grace_seconds", "grace_seconds must be from 0 to 604800 (7 days)"))
			return
		}
		grace = time.Duration(*in.GraceSeconds) * time.Second
	}
	s.changeSubscription(c, domain.RotateSecret{NewSecret: in.Secret, Grace: grace}, http.StatusOK, in.Secret)
}

type recoverIn struct {
	Since *time.Time `json:"since"`
	Until *time.Time `json:"until"`
}

// recoverSubscription re-schedules now the failed and exhausted deliveries of
// a subscription scheduled in [since, until].
func (s *Server) recoverSubscription(c *gin.Context) {
	id, err := pathID(c, "sub")
	if err != nil {
		s.fail(c, err)
		return
	}
	var in recoverIn
	if err := decodeJSON(c, smallBody, &in); err != nil {
		s.fail(c, err)
		return
	}
	if in.Since == nil {
		s.fail(c, bad(CodeValidationFailed, "since", "since is required (RFC 3339 time)"))
		return
	}
	if in.Until != nil && in.Until.Before(*in.Since) {
		s.fail(c, bad(CodeValidationFailed, "until", "until is before since"))
		return
	}
	if _, ok := s.subscriptionView(c.Param("app"), id); !ok {
		s.fail(c, domain.ErrNotFound)
		return
	}
	var targets []string
	s.Views.Read(func(v *projections.Views) {
		for _, did := range v.DeliveryIDsOfSubscription(id) {
			d := v.Deliveries[did]
			if d.Status != domain.DeliveryStatusFailed && d.Status != domain.DeliveryStatusExhausted {
				continue
			}
			if d.ScheduledAt.Before(*in.Since) || (in.Until != nil && d.ScheduledAt.After(*in.Until)) {
				continue
			}
			targets = append(targets, did)
		}
	})
	md := actor(c)
	var last domain.Position
	n := 0
	for _, did := range targets {
		_, out, err := s.Commands.ChangeDelivery(c.Request.Context(), did, domain.RequestRedelivery{By: md.Actor, Reason: "subscription recovery"}, md)
		if errors.Is(err, domain.ErrConflict) {
			continue // an attempt is in flight right now: it is not lost
		}
		if err != nil {
			s.fail(c, err)
			return
		}
		if len(out.Events) > 0 {
			n++
			last = out.Result.Position
		}
	}
	s.settle(c, last)
	c.JSON(http.StatusOK, gin.H{"recovered": n})
}

// ---- messages ----

type publishIn struct {
	EventType      string          `json:"event_type"`
	Payload        json.RawMessage `json:"payload"`
	IdempotencyKey string          `json:"idempotency_key"`
}

func (s *Server) publish(c *gin.Context) {
	var in publishIn
	if err := decodeJSON(c, int64(s.MaxPayload)+smallBody, &in); err != nil {
		s.fail(c, err)
		return
	}
	if len(in.Payload) == 0 || string(in.Payload) == "null" {
		s.fail(c, bad(CodeValidationFailed, "payload", "payload is required (any JSON value but null)"))
		return
	}
	key := in.IdempotencyKey
	if h := c.GetHeader("Idempotency-Key"); h != "" {
		if key != "" && key != h {
			s.fail(c, bad(CodeValidationFailed, "idempotency_key", "the Idempotency-Key header and the body's idempotency_key differ"))
			return
		}
		key = h
	}
	app := c.Param("app")
	cmd := domain.PublishMessage{ApplicationID: app, EventType: in.EventType, Payload: in.Payload, IdempotencyKey: key, MaxPayload: s.MaxPayload}
	ctx := c.Request.Context()
	if key == "" {
		cmd.MessageID = ids.New(domain.PrefixMessage)
		_, res, err := s.Commands.PublishNew(ctx, cmd, actor(c))
		if err != nil {
			s.fail(c, err)
			return
		}
		s.notePublished(res.Position)
		c.JSON(http.StatusAccepted, gin.H{"id": cmd.MessageID, "position": uint64(res.Position)})
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
		c.JSON(http.StatusAccepted, gin.H{"id": cmd.MessageID, "position": uint64(out.Result.Position)})
		return
	}
	// A duplicate: answer with the first message.
	recs, err := s.Store.ReadStream(ctx, domain.MessageStream(cmd.MessageID), 0, domain.Forward, 1)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"id": cmd.MessageID, "position": uint64(recs[0].Position), "duplicate": true})
}

func (s *Server) listMessages(c *gin.Context) {
	limit, err := parseLimit(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	cursor, hasCursor, err := parseCursor(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	since, err := parseTimeParam(c, "since")
	if err != nil {
		s.fail(c, err)
		return
	}
	until, err := parseTimeParam(c, "until")
	if err != nil {
		s.fail(c, err)
		return
	}
	eventType := c.Query("event_type")
	out := page[messageJSON]{Items: []messageJSON{}}
	s.Views.Read(func(v *projections.Views) {
		ids := v.MessageIDsOfApp(c.Param("app"))
		for i := len(ids) - 1; i >= 0; i-- { // newest first
			m := v.Messages[ids[i]]
			if hasCursor && uint64(m.Position) >= cursor {
				continue
			}
			if (eventType != "" && m.EventType != eventType) || (!since.IsZero() && m.PublishedAt.Before(since)) || (!until.IsZero() && m.PublishedAt.After(until)) {
				continue
			}
			if len(out.Items) == limit {
				out.NextCursor = encodeCursor(out.Items[len(out.Items)-1].Position)
				break
			}
			out.Items = append(out.Items, messageOut(*m))
		}
	})
	c.JSON(http.StatusOK, out)
}

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
	ev, _, err := domain.Decode(recs[0])
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
		IdempotencyKey: m.IdempotencyKey, PublishedAt: m.PublishedAt, Position: uint64(recs[0].Position), Payload: json.RawMessage(m.Payload),
		Deliveries: []deliveryBrief{}}
	s.Views.Read(func(v *projections.Views) {
		if mv := v.Messages[id]; mv != nil {
			for _, did := range mv.Deliveries {
				d := v.Deliveries[did]
				out.Deliveries = append(out.Deliveries, deliveryBrief{ID: d.ID, SubscriptionID: d.SubscriptionID, Status: apiStatus(d.Status), Attempts: d.Attempts})
			}
		}
	})
	c.JSON(http.StatusOK, out)
}

// ---- deliveries ----

func (s *Server) listDeliveries(c *gin.Context) {
	limit, err := parseLimit(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	cursor, hasCursor, err := parseCursor(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	since, err := parseTimeParam(c, "since")
	if err != nil {
		s.fail(c, err)
		return
	}
	until, err := parseTimeParam(c, "until")
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
		var ids []string
		switch {
		case msgID != "":
			if m := v.Messages[msgID]; m != nil {
				ids = m.Deliveries
			}
		case subID != "":
			ids = v.DeliveryIDsOfSubscription(subID)
		default:
			ids = v.DeliveryIDsOfApp(app)
		}
		for i := len(ids) - 1; i >= 0; i-- { // newest first
			d := v.Deliveries[ids[i]]
			if d.ApplicationID != app || (hasCursor && uint64(d.ScheduledPosition) >= cursor) {
				continue
			}
			if (status != "" && apiStatus(d.Status) != status) || (subID != "" && d.SubscriptionID != subID) || (msgID != "" && d.MessageID != msgID) {
				continue
			}
			if (!since.IsZero() && d.ScheduledAt.Before(since)) || (!until.IsZero() && d.ScheduledAt.After(until)) {
				continue
			}
			if len(out.Items) == limit {
				last := v.Deliveries[out.Items[len(out.Items)-1].ID]
				out.NextCursor = encodeCursor(uint64(last.ScheduledPosition))
				break
			}
			out.Items = append(out.Items, deliveryOut(*d))
		}
	})
	c.JSON(http.StatusOK, out)
}

// delivery looks a delivery up for the principal (another application's
// delivery is not found).
func (s *Server) delivery(c *gin.Context) (projections.DeliveryView, bool) {
	id, err := pathID(c, "dlv")
	if err != nil {
		s.fail(c, err)
		return projections.DeliveryView{}, false
	}
	var d projections.DeliveryView
	found := false
	s.Views.Read(func(v *projections.Views) {
		if p := v.Deliveries[id]; p != nil {
			d, found = *p, true
		}
	})
	if !found || !visible(who(c), d.ApplicationID) {
		s.fail(c, domain.ErrNotFound)
		return d, false
	}
	return d, true
}

func (s *Server) getDelivery(c *gin.Context) {
	if d, ok := s.delivery(c); ok {
		c.JSON(http.StatusOK, deliveryOut(d))
	}
}

type eventJSON struct {
	Position   uint64          `json:"position"`
	Stream     string          `json:"stream"`
	Revision   uint64          `json:"revision"`
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	RecordedAt *time.Time      `json:"recorded_at,omitempty"`
	Created    time.Time       `json:"created"`
	Actor      string          `json:"actor,omitempty"`
	Metadata   json.RawMessage `json:"metadata"`
	Data       json.RawMessage `json:"data"`
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

// redactSecrets hides signing secrets in the events that carry them: the
// ledger keeps them (signing needs them after a rebuild), the API never
// shows them again after creation or rotation.
func redactSecrets(r domain.RecordedEvent) []byte {
	if r.Type != domain.TypeSubscriptionCreated && r.Type != domain.TypeSubscriptionSecretRotated {
		return r.Data
	}
	var m map[string]any
	if json.Unmarshal(r.Data, &m) != nil {
		return []byte(`"[redacted]"`)
	}
	if k, ok := m["key"].(map[string]any); ok {
		k["secret"] = "[redacted]"
	}
	b, _ := json.Marshal(m)
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
	out := page[eventJSON]{Items: make([]eventJSON, 0, len(recs))}
	for _, r := range recs {
		out.Items = append(out.Items, eventOut(r))
	}
	c.JSON(http.StatusOK, out)
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

// ---- ledger (auditors) ----

func (s *Server) ledgerEvents(c *gin.Context) {
	limit, err := parseLimit(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	from := uint64(0)
	if v := c.Query("from"); v != "" {
		if from, err = strconv.ParseUint(v, 10, 64); err != nil {
			s.fail(c, bad(CodeInvalidParameter, "from", "from must be a ledger position (an unsigned integer)"))
			return
		}
	}
	if cur, ok, err := parseCursor(c); err != nil {
		s.fail(c, err)
		return
	} else if ok {
		from = cur
	}
	recs, err := s.Store.ReadAll(c.Request.Context(), domain.Position(from), limit)
	if err != nil {
		s.fail(c, err)
		return
	}
	out := page[eventJSON]{Items: make([]eventJSON, 0, len(recs))}
	for _, r := range recs {
		out.Items = append(out.Items, eventOut(r))
	}
	if len(recs) == limit {
		out.NextCursor = encodeCursor(uint64(recs[len(recs)-1].Position) + 1)
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) ledgerStream(c *gin.Context) {
	stream := c.Param("stream")
	if err := domain.ValidateStreamName(stream); err != nil {
		s.fail(c, bad(CodeInvalidID, "stream", err.Error()))
		return
	}
	limit, err := parseLimit(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	from, _, err := parseCursor(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	recs, err := s.Store.ReadStream(c.Request.Context(), stream, from, domain.Forward, limit)
	if errors.Is(err, domain.ErrStreamNotFound) {
		s.fail(c, domain.ErrNotFound)
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	out := page[eventJSON]{Items: make([]eventJSON, 0, len(recs))}
	for _, r := range recs {
		out.Items = append(out.Items, eventOut(r))
	}
	if len(recs) == limit {
		out.NextCursor = encodeCursor(recs[len(recs)-1].Revision + 1)
	}
	c.JSON(http.StatusOK, out)
}
