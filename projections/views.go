package projections

import (
	"sort"
	"time"

	"github.com/hookledger/hookledger/domain"
)

// Views are hookledger's read models, folded from $all in order. The same fold
// stopped at position P gives the state as of P.
//
// The views that grow with configuration (applications, subscriptions, API
// keys, event types) are maps held in memory; the ones that grow with the
// history (messages, deliveries) live behind the Records port.
//
// Guarantee: folding the same events gives byte-identical snapshots. The fold
// reads time only from the events, never from the clock.
type Views struct {
	Format        int                           `json:"format"`
	Checkpoint    domain.Position               `json:"checkpoint"`
	Events        uint64                        `json:"events"`
	Applications  map[string]domain.Application `json:"applications"`
	Subscriptions map[string]*SubscriptionView  `json:"subscriptions"`
	Keys          map[string]*domain.APIKey     `json:"keys"`
	// EventTypes is the catalog (absent from snapshots made before it).
	EventTypes map[string]domain.EventTypeDef `json:"event_types"`

	records Records
	changed Changed

	// Derived indexes, rebuilt on load (not part of the snapshot).
	subsByApp  map[string][]string
	keysByHash map[string]string
}

// Changed names the configuration views changed since the last TakeChanged:
// what a store of the views must write with the next checkpoint.
type Changed struct {
	Applications, Subscriptions, Keys, EventTypes map[string]bool
}

func newChanged() Changed {
	return Changed{Applications: map[string]bool{}, Subscriptions: map[string]bool{}, Keys: map[string]bool{}, EventTypes: map[string]bool{}}
}

// Empty reports whether nothing changed.
func (c Changed) Empty() bool {
	return len(c.Applications)+len(c.Subscriptions)+len(c.Keys)+len(c.EventTypes) == 0
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
	// Open counts the subscription's deliveries that may still be attempted
	// (pending, failed, attempting): its backlog, without a scan.
	Open int `json:"open"`
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

// New returns empty views whose records are held in memory.
func New() *Views { return NewOver(NewMemRecords()) }

// NewOver returns empty views folding messages and deliveries into r.
func NewOver(r Records) *Views {
	v := &Views{
		Format:        SnapshotFormat,
		Applications:  map[string]domain.Application{},
		Subscriptions: map[string]*SubscriptionView{},
		Keys:          map[string]*domain.APIKey{},
		EventTypes:    map[string]domain.EventTypeDef{},
		records:       r,
		changed:       newChanged(),
	}
	v.resetIndexes()
	return v
}

func (v *Views) resetIndexes() {
	v.subsByApp = map[string][]string{}
	v.keysByHash = map[string]string{}
}

// Records returns the port holding messages and deliveries.
func (v *Views) Records() Records { return v.records }

// Message returns a message's record (nil if unknown).
func (v *Views) Message(id string) *MessageView { return v.records.Message(id) }

// Delivery returns a delivery's record (nil if unknown).
func (v *Views) Delivery(id string) *DeliveryView { return v.records.Delivery(id) }

// TakeChanged returns the configuration views changed since the last call
// and starts a new set.
func (v *Views) TakeChanged() Changed {
	c := v.changed
	v.changed = newChanged()
	return c
}

// Apply folds one recorded event. Events at or before the checkpoint are
// ignored (re-delivery after a restart is harmless). An event of a type the
// codec does not know is an error: this build cannot fold that ledger.
func (v *Views) Apply(rec domain.RecordedEvent) error {
	if rec.Position <= v.Checkpoint {
		return nil
	}
	ev, err := domain.DecodeEventWithoutBody(rec) // the views keep no body
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
	case domain.ApplicationCreated, domain.ApplicationUpdated, domain.ApplicationDeleted:
		id := appID(e)
		v.Applications[id] = domain.EvolveApplication(v.Applications[id], e)
		v.changed.Applications[id] = true
	case domain.SubscriptionCreated:
		sv := &SubscriptionView{Subscription: domain.EvolveSubscription(domain.Subscription{}, e), Position: rec.Position, CreatedPosition: rec.Position}
		v.Subscriptions[e.SubscriptionID] = sv
		v.subsByApp[e.ApplicationID] = append(v.subsByApp[e.ApplicationID], e.SubscriptionID)
		v.changed.Subscriptions[e.SubscriptionID] = true
	case domain.SubscriptionUpdated, domain.SubscriptionPaused, domain.SubscriptionResumed,
		domain.SubscriptionSecretRotated, domain.SubscriptionDisabled, domain.SubscriptionDeleted:
		sv := v.Subscriptions[e.(domain.SubscriptionEvent).OfSubscription()]
		if sv == nil {
			return
		}
		sv.Subscription = domain.EvolveSubscription(sv.Subscription, e)
		sv.Position = rec.Position
		if _, ok := e.(domain.SubscriptionResumed); ok {
			sv.FailingSince = time.Time{}
		}
		v.changed.Subscriptions[sv.ID] = true
	case domain.EventTypeDefined:
		v.EventTypes[e.Name] = domain.EvolveEventType(v.EventTypes[e.Name], e)
		v.changed.EventTypes[e.Name] = true
	case domain.APIKeyCreated:
		k := domain.EvolveAPIKey(domain.APIKey{}, e)
		v.Keys[e.KeyID] = &k
		v.keysByHash[e.Hash] = e.KeyID
		v.changed.Keys[e.KeyID] = true
	case domain.APIKeyRevoked:
		if k := v.Keys[e.KeyID]; k != nil {
			*k = domain.EvolveAPIKey(*k, e)
			v.changed.Keys[e.KeyID] = true
		}
	case domain.MessagePublished:
		v.records.AddMessage(&MessageView{
			ID: e.MessageID, ApplicationID: e.ApplicationID, EventType: e.EventType, PayloadHash: e.PayloadHash,
			IdempotencyKey: e.IdempotencyKey, PublishedAt: e.PublishedAt, Position: rec.Position,
		})
	case domain.DeliveryScheduled:
		v.records.AddDelivery(&DeliveryView{Delivery: domain.EvolveDelivery(domain.Delivery{}, e), ScheduledPosition: rec.Position, Position: rec.Position, LastEventID: rec.ID, UpdatedAt: e.DueAt})
		if sv := v.Subscriptions[e.SubscriptionID]; sv != nil {
			sv.Open++
			v.changed.Subscriptions[sv.ID] = true
		}
		if m := v.records.Message(e.MessageID); m != nil {
			m.Deliveries = append(m.Deliveries, e.DeliveryID)
			v.records.PutMessage(m)
		}
	default:
		id, at, ok := deliveryEvent(ev)
		if !ok {
			return
		}
		d := v.records.Delivery(id)
		if d == nil {
			return
		}
		wasOpen := IsOpen(d.Status)
		d.Delivery = domain.EvolveDelivery(d.Delivery, ev)
		d.Position, d.LastEventID = rec.Position, rec.ID
		if !at.IsZero() {
			d.UpdatedAt = at
		}
		v.records.PutDelivery(d)
		v.foldStat(d.SubscriptionID, ev)
		if sv := v.Subscriptions[d.SubscriptionID]; sv != nil {
			if isOpen := IsOpen(d.Status); isOpen != wasOpen {
				if isOpen {
					sv.Open++
				} else {
					sv.Open--
				}
				v.changed.Subscriptions[sv.ID] = true
			}
			switch e := ev.(type) {
			case domain.AttemptFailed:
				if sv.FailingSince.IsZero() {
					sv.FailingSince = e.FailedAt
					v.changed.Subscriptions[sv.ID] = true
				}
			case domain.AttemptAcknowledged:
				sv.FailingSince, sv.LastAcknowledgedAt = time.Time{}, e.AcknowledgedAt
				v.changed.Subscriptions[sv.ID] = true
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
	case domain.ApplicationDeleted:
		return e.ApplicationID
	}
	return ""
}

// deliveryEvent returns the delivery id and the event's own time (zero
// for an event without one).
func deliveryEvent(ev domain.Event) (string, time.Time, bool) {
	d, ok := ev.(domain.DeliveryEvent)
	if !ok {
		return "", time.Time{}, false
	}
	var at time.Time
	switch e := ev.(type) {
	case domain.AttemptStarted:
		at = e.StartedAt
	case domain.AttemptAcknowledged:
		at = e.AcknowledgedAt
	case domain.AttemptFailed:
		at = e.FailedAt
	case domain.AttemptOutcomeUnknown:
		at = e.ClosedAt
	case domain.DeliveryExhausted:
		at = e.ExhaustedAt
	case domain.RedeliveryRequested:
		at = e.DueAt
	case domain.DeliveryCancelled:
		at = e.CancelledAt
	}
	return d.OfDelivery(), at, true
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

// Pending lists the deliveries that may still be attempted, by due time then
// id. It walks every delivery: for tests and offline reports only.
func (v *Views) Pending() []PendingItem {
	var out []PendingItem
	_ = v.records.WalkDeliveries(func(d *DeliveryView) error {
		if IsOpen(d.Status) {
			out = append(out, PendingItem{DeliveryID: d.ID, SubscriptionID: d.SubscriptionID, DueAt: d.NextDueAt, NextAttempt: d.Attempts + 1, Status: d.Status})
		}
		return nil
	})
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

// KeyByHash returns the API key with that hash (revoked keys included), or nil.
func (v *Views) KeyByHash(hash string) *domain.APIKey {
	if id, ok := v.keysByHash[hash]; ok {
		return v.Keys[id]
	}
	return nil
}
