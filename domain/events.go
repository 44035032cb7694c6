package domain

import (
	"encoding/json"
	"fmt"
	"time"
)

// Event is a ledger event: a past-tense fact. Its type string is a stored
// contract: it never changes once written, and it is never derived by reflection.
type Event interface {
	Type() string
}

// Event type strings. Renaming one breaks every ledger ever written.
const (
	TypeApplicationCreated = "application.created"
	TypeApplicationUpdated = "application.updated"

	TypeSubscriptionCreated       = "subscription.created"
	TypeSubscriptionUpdated       = "subscription.updated"
	TypeSubscriptionPaused        = "subscription.paused"
	TypeSubscriptionResumed       = "subscription.resumed"
	TypeSubscriptionSecretRotated = "subscription.secret_rotated"
	TypeSubscriptionDisabled      = "subscription.disabled"
	TypeSubscriptionDeleted       = "subscription.deleted"
	TypeSubscriptionReplay        = "subscription.replay_requested"

	TypeMessagePublished = "message.published"

	TypeDeliveryScheduled     = "delivery.scheduled"
	TypeAttemptStarted        = "delivery.attempt_started"
	TypeAttemptAcknowledged   = "delivery.attempt_acknowledged"
	TypeAttemptFailed         = "delivery.attempt_failed"
	TypeAttemptOutcomeUnknown = "delivery.attempt_outcome_unknown"
	TypeRetryScheduled        = "delivery.retry_scheduled"
	TypeDeliveryExhausted     = "delivery.exhausted"
	TypeRedeliveryRequested   = "delivery.redelivery_requested"
	TypeDeliveryCancelled     = "delivery.cancelled"

	TypeEventTypeDefined = "event_type.defined"

	TypeAPIKeyCreated = "apikey.created"
	TypeAPIKeyRevoked = "apikey.revoked"
)

// SchemaVersion is written into every event's metadata. Decoders accept every
// version up to this one.
const SchemaVersion = 1

// Metadata travels with every event.
type Metadata struct {
	Schema     int       `json:"schema"`
	RecordedAt time.Time `json:"recorded_at"`
	// Actor is who caused the event: an API key id, or a process name such as
	// "fanout" or "delivery-worker".
	Actor string `json:"actor"`
	// CorrelationID is the message id the event belongs to (empty for
	// subscription and application events not caused by a message).
	CorrelationID string `json:"correlation_id,omitempty"`
	// CausationID is the id of the ledger event (or request) that caused this one.
	CausationID string `json:"causation_id,omitempty"`
}

// decoders maps each stored type string to the decoder of its Go type. It is
// the whole registry: an event type missing here cannot be decoded. Events
// decode as values, so type switches in evolve and projections match on
// value types only.
var decoders = map[string]func([]byte) (Event, error){
	TypeApplicationCreated:        decodeAs[ApplicationCreated],
	TypeApplicationUpdated:        decodeAs[ApplicationUpdated],
	TypeSubscriptionCreated:       decodeAs[SubscriptionCreated],
	TypeSubscriptionUpdated:       decodeAs[SubscriptionUpdated],
	TypeSubscriptionPaused:        decodeAs[SubscriptionPaused],
	TypeSubscriptionResumed:       decodeAs[SubscriptionResumed],
	TypeSubscriptionSecretRotated: decodeAs[SubscriptionSecretRotated],
	TypeSubscriptionDisabled:      decodeAs[SubscriptionDisabled],
	TypeSubscriptionDeleted:       decodeAs[SubscriptionDeleted],
	TypeSubscriptionReplay:        decodeAs[SubscriptionReplayRequested],
	TypeMessagePublished:          decodeAs[MessagePublished],
	TypeDeliveryScheduled:         decodeAs[DeliveryScheduled],
	TypeAttemptStarted:            decodeAs[AttemptStarted],
	TypeAttemptAcknowledged:       decodeAs[AttemptAcknowledged],
	TypeAttemptFailed:             decodeAs[AttemptFailed],
	TypeAttemptOutcomeUnknown:     decodeAs[AttemptOutcomeUnknown],
	TypeRetryScheduled:            decodeAs[RetryScheduled],
	TypeDeliveryExhausted:         decodeAs[DeliveryExhausted],
	TypeRedeliveryRequested:       decodeAs[RedeliveryRequested],
	TypeDeliveryCancelled:         decodeAs[DeliveryCancelled],
	TypeEventTypeDefined:          decodeAs[EventTypeDefined],
	TypeAPIKeyCreated:             decodeAs[APIKeyCreated],
	TypeAuditSealed:               decodeAs[AuditSealed],
	TypeAPIKeyRevoked:             decodeAs[APIKeyRevoked],
}

func decodeAs[T Event](data []byte) (Event, error) {
	var ev T
	err := json.Unmarshal(data, &ev)
	return ev, err
}

// EventTypes lists every known event type string.
func EventTypes() []string {
	out := make([]string, 0, len(decoders))
	for t := range decoders {
		out = append(out, t)
	}
	return out
}

// Encode turns an event and its metadata into EventData for the store. id is
// the ledger event id (a UUID string).
func Encode(id string, ev Event, md Metadata) (EventData, error) {
	if _, ok := decoders[ev.Type()]; !ok {
		return EventData{}, fmt.Errorf("%w: %q", ErrUnknownEventType, ev.Type())
	}
	if md.Schema == 0 {
		md.Schema = SchemaVersion
	}
	md.RecordedAt = md.RecordedAt.UTC()
	data, err := json.Marshal(ev)
	if err != nil {
		return EventData{}, fmt.Errorf("encode %s: %w", ev.Type(), err)
	}
	meta, err := json.Marshal(md)
	if err != nil {
		return EventData{}, fmt.Errorf("encode metadata: %w", err)
	}
	return EventData{ID: id, Type: ev.Type(), Data: data, Metadata: meta}, nil
}

// Decode turns a recorded event back into its domain event and metadata.
func Decode(rec RecordedEvent) (Event, Metadata, error) {
	decode, ok := decoders[rec.Type]
	if !ok {
		return nil, Metadata{}, fmt.Errorf("%w: %q at position %d", ErrUnknownEventType, rec.Type, rec.Position)
	}
	ev, err := decode(rec.Data)
	if err != nil {
		return nil, Metadata{}, fmt.Errorf("decode %s at position %d: %w", rec.Type, rec.Position, err)
	}
	var md Metadata
	if len(rec.Metadata) > 0 {
		if err := json.Unmarshal(rec.Metadata, &md); err != nil {
			return nil, Metadata{}, fmt.Errorf("decode metadata at position %d: %w", rec.Position, err)
		}
	}
	if md.Schema > SchemaVersion {
		return nil, Metadata{}, fmt.Errorf("%w: %s schema %d is newer than this build (%d)", ErrUnknownEventType, rec.Type, md.Schema, SchemaVersion)
	}
	return ev, md, nil
}

// Stream names. The prefix is part of the stored contract.
func ApplicationStream(id string) string  { return "application-" + id }
func SubscriptionStream(id string) string { return "subscription-" + id }
func MessageStream(id string) string      { return "message-" + id }
func DeliveryStream(id string) string     { return "delivery-" + id }
