package domain

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
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
	TypeApplicationDeleted = "application.deleted"

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
	TypeApplicationDeleted:        decodeAs[ApplicationDeleted],
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
	TypeErasureRequested:          decodeAs[ErasureRequested],
	TypeErasureCompleted:          decodeAs[ErasureCompleted],
	TypeClusterConfigured:         decodeAs[ClusterConfigured],
	TypeLeaseAcquired:             decodeAs[LeaseAcquired],
	TypeLeaseRenewed:              decodeAs[LeaseRenewed],
	TypeLeaseReleased:             decodeAs[LeaseReleased],
	TypeLedgerExported:            decodeAs[LedgerExported],
	TypeLedgerBackedUp:            decodeAs[LedgerBackedUp],
	TypeMasterKeyRotated:          decodeAs[MasterKeyRotated],
}

func decodeAs[T Event](data []byte) (Event, error) {
	var ev T
	err := unmarshalEvent(data, &ev)
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
	// One buffer holds both (fastencode.go); what the fast encoders do not
	// write, json.Marshal does.
	size := 512
	if m, ok := ev.(MessagePublished); ok && m.Sealed != nil { // as encodeFast would grow it
		size += base64.StdEncoding.EncodedLen(len(m.Sealed.Ciphertext))
	}
	buf := make([]byte, 0, size)
	data, ok := encodeFast(buf, ev)
	if !ok {
		var err error
		if data, err = json.Marshal(ev); err != nil {
			return EventData{}, fmt.Errorf("encode %s: %w", ev.Type(), err)
		}
		buf = buf[:0]
	} else {
		buf = data[len(data):]
	}
	meta, ok := encodeMetadataFast(buf, md)
	if !ok {
		var err error
		if meta, err = json.Marshal(md); err != nil {
			return EventData{}, fmt.Errorf("encode metadata: %w", err)
		}
	}
	return EventData{ID: id, Type: ev.Type(), Data: data[:len(data):len(data)], Metadata: meta}, nil
}

// Decode turns a recorded event back into its domain event and metadata.
func Decode(rec RecordedEvent) (Event, Metadata, error) {
	ev, err := decodeData(rec)
	if err != nil {
		return nil, Metadata{}, err
	}
	var md Metadata
	if len(rec.Metadata) > 0 {
		if err := json.Unmarshal(rec.Metadata, &md); err != nil {
			return nil, Metadata{}, fmt.Errorf("decode metadata at position %d: %w", rec.Position, err)
		}
	}
	if err := checkSchema(rec, md.Schema); err != nil {
		return nil, Metadata{}, err
	}
	return ev, md, nil
}

// DecodeEvent turns a recorded event back into its domain event, reading of
// the metadata only its schema version (refused if newer than this build), as
// Decode does. The folds need nothing else from the metadata, and decoding it
// in full (a timestamp, three strings) cost a third of a rebuild's decoding.
func DecodeEvent(rec RecordedEvent) (Event, error) {
	ev, err := decodeData(rec)
	if err != nil {
		return nil, err
	}
	if err := checkLeadingSchema(rec); err != nil {
		return nil, err
	}
	return ev, nil
}

// DecodeEventWithoutBody is DecodeEvent for readers that never use a
// message's body, the folds among them (views keep a message's hash, never
// its body): a message.published comes back with Payload and Sealed nil.
// The bodies are most of a ledger's bytes; skipping one is cheaper than
// copying it, or base64-decoding it when it is sealed.
func DecodeEventWithoutBody(rec RecordedEvent) (Event, error) {
	if rec.Type != TypeMessagePublished {
		return DecodeEvent(rec)
	}
	ev, ok := decodeFast(rec.Type, rec.Data, false)
	if !ok {
		var head publishedWithoutBody
		if err := unmarshalEvent(rec.Data, &head); err != nil {
			return nil, fmt.Errorf("decode %s at position %d: %w", rec.Type, rec.Position, err)
		}
		ev = MessagePublished(head)
	}
	if err := checkLeadingSchema(rec); err != nil {
		return nil, err
	}
	return ev, nil
}

// publishedWithoutBody is MessagePublished with its body left out of the
// JSON. It converts to MessagePublished, so the compiler keeps the two
// field lists the same.
type publishedWithoutBody struct {
	MessageID      string          `json:"message_id"`
	ApplicationID  string          `json:"application_id"`
	EventType      string          `json:"event_type"`
	Payload        json.RawMessage `json:"-"`
	Sealed         *SealedValue    `json:"-"`
	PayloadHash    string          `json:"payload_hash"`
	Subject        string          `json:"subject,omitempty"`
	IdempotencyKey string          `json:"idempotency_key,omitempty"`
	PublishedAt    time.Time       `json:"published_at"`
}

// checkLeadingSchema refuses an event whose metadata names a schema newer
// than this build, reading the version from the front of the metadata where
// Encode writes it and decoding any other form in full.
func checkLeadingSchema(rec RecordedEvent) error {
	schema, ok := leadingSchema(rec.Metadata)
	if !ok && len(rec.Metadata) > 0 {
		var md struct {
			Schema int `json:"schema"`
		}
		if err := json.Unmarshal(rec.Metadata, &md); err != nil {
			return fmt.Errorf("decode metadata at position %d: %w", rec.Position, err)
		}
		schema = md.Schema
	}
	return checkSchema(rec, schema)
}

func decodeData(rec RecordedEvent) (Event, error) {
	if ev, ok := decodeFast(rec.Type, rec.Data, true); ok {
		return ev, nil
	}
	decode, ok := decoders[rec.Type]
	if !ok {
		return nil, fmt.Errorf("%w: %q at position %d", ErrUnknownEventType, rec.Type, rec.Position)
	}
	ev, err := decode(rec.Data)
	if err != nil {
		return nil, fmt.Errorf("decode %s at position %d: %w", rec.Type, rec.Position, err)
	}
	return ev, nil
}

func checkSchema(rec RecordedEvent, schema int) error {
	if schema > SchemaVersion {
		return fmt.Errorf("%w: %s schema %d is newer than this build (%d)", ErrUnknownEventType, rec.Type, schema, SchemaVersion)
	}
	return nil
}

// leadingSchema reads the schema version from metadata in the form Encode
// writes it: an object whose first member is "schema" with a small
// non-negative integer. Anything else answers ok=false, and the caller decodes
// the metadata properly.
func leadingSchema(md []byte) (schema int, ok bool) {
	const prefix = `{"schema":`
	if len(md) < len(prefix)+2 || string(md[:len(prefix)]) != prefix {
		return 0, false
	}
	i := len(prefix)
	start := i
	for ; i < len(md) && i-start < 9 && md[i] >= '0' && md[i] <= '9'; i++ {
		schema = schema*10 + int(md[i]-'0')
	}
	if i == start || i == len(md) || (md[start] == '0' && i-start > 1) {
		return 0, false
	}
	if md[i] != ',' && md[i] != '}' {
		return 0, false
	}
	return schema, true
}

// Stream names. The prefix is part of the stored contract.
func ApplicationStream(id string) string  { return "application-" + id }
func SubscriptionStream(id string) string { return "subscription-" + id }
func MessageStream(id string) string      { return "message-" + id }
func DeliveryStream(id string) string     { return "delivery-" + id }

// EntityStream is the stream of the entity whose id this is, known by the
// id's prefix (app_, sub_, msg_, dlv_, key_, era_); ok is false for an id
// without one (ids chosen by clients need not carry it).
func EntityStream(id string) (stream string, ok bool) {
	for _, k := range entityStreams {
		if strings.HasPrefix(id, k.prefix) {
			return k.stream(id), true
		}
	}
	return "", false
}

// EntityStreams lists the streams an id may name, most likely first: the
// one its prefix says (EntityStream), then every other kind's.
func EntityStreams(id string) []string {
	out := make([]string, 0, len(entityStreams))
	if s, ok := EntityStream(id); ok {
		out = append(out, s)
	}
	for _, k := range entityStreams {
		if s := k.stream(id); len(out) == 0 || s != out[0] {
			out = append(out, s)
		}
	}
	return out
}

var entityStreams = []struct {
	prefix string
	stream func(string) string
}{
	{PrefixSubscription, SubscriptionStream},
	{PrefixDelivery, DeliveryStream},
	{PrefixMessage, MessageStream},
	{PrefixApplication, ApplicationStream},
	{PrefixKey, APIKeyStream},
	{PrefixErasure, ErasureStream},
}
