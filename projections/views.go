package projections

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/hookledger/hookledger/domain"
)

// SnapshotFormat versions the snapshot encoding. A snapshot of another format
// is ignored and the views are rebuilt from the ledger.
const SnapshotFormat = 1

// Views are hookledger's read models, folded from $all in order. The same fold
// stopped at position P gives the state as of P.
//
// Guarantee: folding the same events gives byte-identical snapshots. The fold
// reads time only from the events, never from the clock.
type Views struct {
	Format        int                           `json:"format"`
	Checkpoint    domain.Position               `json:"checkpoint"`
	Events        uint64                        `json:"events"`
	Applications  map[string]domain.Application `json:"applications"`
	Subscriptions map[string]*SubscriptionView  `json:"subscriptions"`
	Messages      map[string]*MessageView       `json:"messages"`
	Deliveries    map[string]*DeliveryView      `json:"deliveries"`
	Keys          map[string]*domain.APIKey     `json:"keys"`
	// EventTypes is the catalog (absent from snapshots made before it).
	EventTypes map[string]domain.EventTypeDef `json:"event_types"`

	// Derived indexes, rebuilt on load (not part of the snapshot).
	subsByApp       map[string][]string
	deliveriesByApp map[string][]string
	deliveriesBySub map[string][]string
	messagesByApp   map[string][]string
	keysByHash      map[string]string
}

// SubscriptionView is a subscription's current state plus its delivery health.
type SubscriptionView struct {
	domain.Subscription
	// Position of the subscription's last event in $all.
	Position domain.Position `json:"position"`
	// FailingSince is when the current run of failed attempts began (zero when
	// the last outcome was a success, or after a resume).
	FailingSince       time.Time       `json:"failing_since,omitzero"`
	LastAcknowledgedAt time.Time       `json:"last_acknowledged_at,omitzero"`
	CreatedPosition    domain.Position `json:"created_position"`
}

// MessageView is a published message without its payload (read it from the
// message stream).
type MessageView struct {
	ID             string          `json:"id"`
	ApplicationID  string          `json:"application_id"`
	EventType      string          `json:"event_type"`
	PayloadHash    string          `json:"payload_hash"`
	IdempotencyKey string          `json:"idempotency_key,omitempty"`
	PublishedAt    time.Time       `json:"published_at"`
	Position       domain.Position `json:"position"`
	Deliveries     []string        `json:"deliveries,omitempty"`
}

// DeliveryView is a delivery's folded state and where it was last changed.
type DeliveryView struct {
	domain.Delivery
	ScheduledPosition domain.Position `json:"scheduled_position"`
	Position          domain.Position `json:"position"`
	// LastEventID is the ledger id of the delivery's last event: the causation
	// id of the next one.
	LastEventID string    `json:"last_event_id"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// New returns empty views.
func New() *Views {
	v := &Views{
		Format:        SnapshotFormat,
		Applications:  map[string]domain.Application{},
		Subscriptions: map[string]*SubscriptionView{},
		Messages:      map[string]*MessageView{},
		Deliveries:    map[string]*DeliveryView{},
		Keys:          map[string]*domain.APIKey{},
		EventTypes:    map[string]domain.EventTypeDef{},
	}
	v.resetIndexes()
	return v
}

func (v *Views) resetIndexes() {
	v.subsByApp = map[string][]string{}
	v.deliveriesByApp = map[string][]string{}
	v.deliveriesBySub = map[string][]string{}
	v.messagesByApp = map[string][]string{}
	v.keysByHash = map[string]string{}
}

// Apply folds one recorded event. Events at or before the checkpoint are
// ignored (re-delivery after a restart is harmless). An event of a type the
// codec does not know is an error: this build cannot fold that ledger.
func (v *Views) Apply(rec domain.RecordedEvent) error {
	if rec.Position <= v.Checkpoint {
		return nil
	}
	ev, _, err := domain.Decode(rec)
	if err != nil {
		return err
	}
	v.ApplyDecoded(rec, ev)
	return nil
}

// ApplyDecoded folds an event already decoded from rec.
func (v *Views) ApplyDecoded(rec domain.RecordedEvent, ev domain.Event) {
	if rec.Position <= v.Checkpoint {
		return
	}
	v.Checkpoint = rec.Position
	v.Events++
	switch e := ev.(type) {
	case domain.ApplicationCreated, domain.ApplicationUpdated:
		id := appID(e)
		v.Applications[id] = domain.EvolveApplication(v.Applications[id], e)
	case domain.SubscriptionCreated:
		sv := &SubscriptionView{Subscription: domain.EvolveSubscription(domain.Subscription{}, e), Position: rec.Position, CreatedPosition: rec.Position}
		v.Subscriptions[e.SubscriptionID] = sv
		v.subsByApp[e.ApplicationID] = append(v.subsByApp[e.ApplicationID], e.SubscriptionID)
	case domain.SubscriptionUpdated, domain.SubscriptionPaused, domain.SubscriptionResumed,
		domain.SubscriptionSecretRotated, domain.SubscriptionDisabled, domain.SubscriptionDeleted:
		sv := v.Subscriptions[subID(e)]
		if sv == nil {
			return
		}
		sv.Subscription = domain.EvolveSubscription(sv.Subscription, e)
		sv.Position = rec.Position
		if _, ok := e.(domain.SubscriptionResumed); ok {
			sv.FailingSince = time.Time{}
		}
	case domain.EventTypeDefined:
		v.EventTypes[e.Name] = domain.EvolveEventType(v.EventTypes[e.Name], e)
	case domain.APIKeyCreated:
		k := domain.EvolveAPIKey(domain.APIKey{}, e)
		v.Keys[e.KeyID] = &k
		v.keysByHash[e.Hash] = e.KeyID
	case domain.APIKeyRevoked:
		if k := v.Keys[e.KeyID]; k != nil {
			*k = domain.EvolveAPIKey(*k, e)
		}
	case domain.MessagePublished:
		v.Messages[e.MessageID] = &MessageView{
			ID: e.MessageID, ApplicationID: e.ApplicationID, EventType: e.EventType, PayloadHash: e.PayloadHash,
			IdempotencyKey: e.IdempotencyKey, PublishedAt: e.PublishedAt, Position: rec.Position,
		}
		v.messagesByApp[e.ApplicationID] = append(v.messagesByApp[e.ApplicationID], e.MessageID)
	case domain.DeliveryScheduled:
		d := &DeliveryView{Delivery: domain.EvolveDelivery(domain.Delivery{}, e), ScheduledPosition: rec.Position, Position: rec.Position, LastEventID: rec.ID, UpdatedAt: e.DueAt}
		v.Deliveries[e.DeliveryID] = d
		v.deliveriesByApp[e.ApplicationID] = append(v.deliveriesByApp[e.ApplicationID], e.DeliveryID)
		v.deliveriesBySub[e.SubscriptionID] = append(v.deliveriesBySub[e.SubscriptionID], e.DeliveryID)
		if m := v.Messages[e.MessageID]; m != nil {
			m.Deliveries = append(m.Deliveries, e.DeliveryID)
		}
	default:
		id, at, ok := deliveryEvent(ev)
		if !ok {
			return
		}
		d := v.Deliveries[id]
		if d == nil {
			return
		}
		d.Delivery = domain.EvolveDelivery(d.Delivery, ev)
		d.Position, d.LastEventID = rec.Position, rec.ID
		if !at.IsZero() {
			d.UpdatedAt = at
		}
		if sv := v.Subscriptions[d.SubscriptionID]; sv != nil {
			switch e := ev.(type) {
			case domain.AttemptFailed:
				if sv.FailingSince.IsZero() {
					sv.FailingSince = e.FailedAt
				}
			case domain.AttemptAcknowledged:
				sv.FailingSince, sv.LastAcknowledgedAt = time.Time{}, e.AcknowledgedAt
			}
		}
	}
}

func appID(ev domain.Event) string {
	switch e := ev.(type) {
	case domain.ApplicationCreated:
		return e.ApplicationID
	case domain.ApplicationUpdated:
		return e.ApplicationID
	}
	return ""
}

func subID(ev domain.Event) string {
	switch e := ev.(type) {
	case domain.SubscriptionUpdated:
		return e.SubscriptionID
	case domain.SubscriptionPaused:
		return e.SubscriptionID
	case domain.SubscriptionResumed:
		return e.SubscriptionID
	case domain.SubscriptionSecretRotated:
		return e.SubscriptionID
	case domain.SubscriptionDisabled:
		return e.SubscriptionID
	case domain.SubscriptionDeleted:
		return e.SubscriptionID
	case domain.SubscriptionReplayRequested:
		return e.SubscriptionID
	}
	return ""
}

// deliveryEvent returns the delivery id and the event's own time.
func deliveryEvent(ev domain.Event) (string, time.Time, bool) {
	switch e := ev.(type) {
	case domain.AttemptStarted:
		return e.DeliveryID, e.StartedAt, true
	case domain.AttemptAcknowledged:
		return e.DeliveryID, e.AcknowledgedAt, true
	case domain.AttemptFailed:
		return e.DeliveryID, e.FailedAt, true
	case domain.AttemptOutcomeUnknown:
		return e.DeliveryID, e.ClosedAt, true
	case domain.RetryScheduled:
		return e.DeliveryID, time.Time{}, true
	case domain.DeliveryExhausted:
		return e.DeliveryID, e.ExhaustedAt, true
	case domain.RedeliveryRequested:
		return e.DeliveryID, e.DueAt, true
	case domain.DeliveryCancelled:
		return e.DeliveryID, e.CancelledAt, true
	}
	return "", time.Time{}, false
}

// IsOpen reports whether a delivery may still be attempted.
func IsOpen(s domain.DeliveryStatus) bool {
	return s == domain.DeliveryStatusPending || s == domain.DeliveryStatusFailed || s == domain.DeliveryStatusAttempting
}

// PendingItem is one entry of the pending-delivery view.
type PendingItem struct {
	DeliveryID     string                `json:"delivery_id"`
	SubscriptionID string                `json:"subscription_id"`
	DueAt          time.Time             `json:"due_at"`
	NextAttempt    int                   `json:"next_attempt"`
	Status         domain.DeliveryStatus `json:"status"`
}

// Pending lists the deliveries that may still be attempted, by due time then id.
func (v *Views) Pending() []PendingItem {
	var out []PendingItem
	for _, d := range v.Deliveries {
		if IsOpen(d.Status) {
			out = append(out, PendingItem{DeliveryID: d.ID, SubscriptionID: d.SubscriptionID, DueAt: d.NextDueAt, NextAttempt: d.Attempts + 1, Status: d.Status})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].DueAt.Equal(out[j].DueAt) {
			return out[i].DueAt.Before(out[j].DueAt)
		}
		return out[i].DeliveryID < out[j].DeliveryID
	})
	return out
}

// SubscriptionsOf returns an application's subscriptions in creation order
// (deleted ones included: callers filter).
func (v *Views) SubscriptionsOf(app string) []*SubscriptionView {
	ids := v.subsByApp[app]
	out := make([]*SubscriptionView, 0, len(ids))
	for _, id := range ids {
		out = append(out, v.Subscriptions[id])
	}
	return out
}

// DeliveryIDsOfApp returns an application's deliveries in scheduling order.
// The slice is the view's own: do not modify it.
func (v *Views) DeliveryIDsOfApp(app string) []string { return v.deliveriesByApp[app] }

// DeliveryIDsOfSubscription returns a subscription's deliveries in scheduling order.
func (v *Views) DeliveryIDsOfSubscription(sub string) []string { return v.deliveriesBySub[sub] }

// MessageIDsOfApp returns an application's messages in publishing order.
func (v *Views) MessageIDsOfApp(app string) []string { return v.messagesByApp[app] }

// KeyByHash returns the API key with that hash (revoked keys included), or nil.
func (v *Views) KeyByHash(hash string) *domain.APIKey {
	if id, ok := v.keysByHash[hash]; ok {
		return v.Keys[id]
	}
	return nil
}

// Snapshot encodes the views deterministically (JSON sorts map keys).
func (v *Views) Snapshot() ([]byte, error) {
	var buf bytes.Buffer
	if err := v.WriteSnapshot(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteSnapshot streams the snapshot to w entry by entry, byte for byte what
// encoding/json makes of the whole value (fields in order, map keys sorted,
// a final newline), so a large view is never held twice in memory:
// json.Encoder would build the whole document in a buffer first.
func (v *Views) WriteSnapshot(w io.Writer) error {
	sw := &snapWriter{w: w}
	sw.printf(`{"format":%d,"checkpoint":%d,"events":%d`, v.Format, v.Checkpoint, v.Events)
	writeMap(sw, "applications", v.Applications)
	writeMap(sw, "subscriptions", v.Subscriptions)
	writeMap(sw, "messages", v.Messages)
	writeMap(sw, "deliveries", v.Deliveries)
	writeMap(sw, "keys", v.Keys)
	writeMap(sw, "event_types", v.EventTypes)
	sw.printf("}\n")
	if sw.err != nil {
		return fmt.Errorf("encode views: %w", sw.err)
	}
	return nil
}

type snapWriter struct {
	w   io.Writer
	err error
}

func (s *snapWriter) printf(format string, args ...any) {
	if s.err == nil {
		_, s.err = fmt.Fprintf(s.w, format, args...)
	}
}

func (s *snapWriter) write(b []byte) {
	if s.err == nil {
		_, s.err = s.w.Write(b)
	}
}

func writeMap[V any](s *snapWriter, name string, m map[string]V) {
	s.printf(`,%q:`, name)
	if m == nil {
		s.write([]byte("null"))
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s.write([]byte("{"))
	for i, k := range keys {
		if s.err != nil {
			return
		}
		kb, err := json.Marshal(k)
		if err != nil {
			s.err = err
			return
		}
		vb, err := json.Marshal(m[k])
		if err != nil {
			s.err = err
			return
		}
		if i > 0 {
			s.write([]byte(","))
		}
		s.write(kb)
		s.write([]byte(":"))
		s.write(vb)
	}
	s.write([]byte("}"))
}

// LoadSnapshot decodes a snapshot and rebuilds the derived indexes.
func LoadSnapshot(b []byte) (*Views, error) {
	v := &Views{}
	if err := json.Unmarshal(b, v); err != nil {
		return nil, fmt.Errorf("decode views snapshot: %w", err)
	}
	if err := v.Restore(); err != nil {
		return nil, err
	}
	return v, nil
}

// Restore checks views decoded from a snapshot (by LoadSnapshot or as part of
// a larger document) and rebuilds their derived indexes.
func (v *Views) Restore() error {
	if v.Format != SnapshotFormat {
		return fmt.Errorf("views snapshot format %d, this build reads %d", v.Format, SnapshotFormat)
	}
	if v.Applications == nil || v.Subscriptions == nil || v.Messages == nil || v.Deliveries == nil || v.Keys == nil {
		return fmt.Errorf("views snapshot is incomplete")
	}
	if v.EventTypes == nil {
		v.EventTypes = map[string]domain.EventTypeDef{}
	}
	for name, et := range v.EventTypes {
		et.Exists = true
		v.EventTypes[name] = et
	}
	v.resetIndexes()
	for id, k := range v.Keys {
		v.keysByHash[k.Hash] = id
	}
	subs := make([]*SubscriptionView, 0, len(v.Subscriptions))
	for _, s := range v.Subscriptions {
		subs = append(subs, s)
	}
	sort.Slice(subs, func(i, j int) bool { return subs[i].CreatedPosition < subs[j].CreatedPosition })
	for _, s := range subs {
		v.subsByApp[s.ApplicationID] = append(v.subsByApp[s.ApplicationID], s.ID)
	}
	msgs := make([]*MessageView, 0, len(v.Messages))
	for _, m := range v.Messages {
		msgs = append(msgs, m)
	}
	sort.Slice(msgs, func(i, j int) bool { return msgs[i].Position < msgs[j].Position })
	for _, m := range msgs {
		v.messagesByApp[m.ApplicationID] = append(v.messagesByApp[m.ApplicationID], m.ID)
	}
	ds := make([]*DeliveryView, 0, len(v.Deliveries))
	for _, d := range v.Deliveries {
		ds = append(ds, d)
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i].ScheduledPosition < ds[j].ScheduledPosition })
	for _, d := range ds {
		v.deliveriesByApp[d.ApplicationID] = append(v.deliveriesByApp[d.ApplicationID], d.ID)
		v.deliveriesBySub[d.SubscriptionID] = append(v.deliveriesBySub[d.SubscriptionID], d.ID)
	}
	return nil
}
