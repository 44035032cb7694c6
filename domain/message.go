package domain

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// MessagePublished: the platform published one event to deliver. Payload is
// the exact JSON bytes that every attempt sends as the request body; when the
// ledger encrypts payloads it is empty and Sealed holds them (OpenPayload
// answers either). PayloadHash is always the hash of the plain payload.
// Subject, when the publisher names one (a customer id), lets an erasure or
// an export select the subject's messages.
type MessagePublished struct {
	MessageID      string          `json:"message_id"`
	ApplicationID  string          `json:"application_id"`
	EventType      string          `json:"event_type"`
	Payload        json.RawMessage `json:"payload,omitempty"`
	Sealed         *SealedValue    `json:"payload_sealed,omitempty"`
	PayloadHash    string          `json:"payload_hash"`
	Subject        string          `json:"subject,omitempty"`
	IdempotencyKey string          `json:"idempotency_key,omitempty"`
	PublishedAt    time.Time       `json:"published_at"`
}

func (MessagePublished) Type() string { return TypeMessagePublished }

// Message is a published message's state.
type Message struct {
	MessagePublished
	Exists bool
}

// PublishMessage publishes a message. With an IdempotencyKey the MessageID must
// be MessageIDForKey(ApplicationID, IdempotencyKey).
type PublishMessage struct {
	MessageID      string
	ApplicationID  string
	EventType      string
	Payload        []byte
	IdempotencyKey string
	Subject        string
	// MaxPayload bounds the payload in bytes (0 = DefaultMaxPayload).
	MaxPayload int
}

// DefaultMaxPayload is the default bound on a message's payload.
const DefaultMaxPayload = 256 << 10

// PayloadHash is the hex SHA-256 of the compacted payload JSON.
func PayloadHash(payload []byte) string {
	return labelledSHA256(sha256.Sum256(payload))
}

// labelledSHA256 is "sha256:" and the digest in hex, built in one
// allocation: a publish computes two (its key's and its payload's).
func labelledSHA256(sum [sha256.Size]byte) string {
	var b [len("sha256:") + 2*sha256.Size]byte
	copy(b[:], "sha256:")
	hex.Encode(b[len("sha256:"):], sum[:])
	return string(b[:])
}

// IdempotencyConflictError: the idempotency key was used with another payload.
type IdempotencyConflictError struct {
	Key       string
	MessageID string
}

func (e *IdempotencyConflictError) Error() string {
	return "idempotency key " + e.Key + " was already used with another payload (message " + e.MessageID + ")"
}

// Is makes an IdempotencyConflictError match ErrConflict.
func (e *IdempotencyConflictError) Is(target error) bool { return target == ErrConflict }

// DecidePublish returns MessagePublished, or nothing when an identical message
// was already published with the same idempotency key (the duplicate answers
// with the first message), or a conflict when the payload differs.
func DecidePublish(s Message, c PublishMessage, now time.Time) ([]Event, error) {
	if err := ValidateID("application_id", c.ApplicationID); err != nil {
		return nil, err
	}
	if err := ValidateID("id", c.MessageID); err != nil {
		return nil, err
	}
	if err := ValidateEventType("event_type", c.EventType); err != nil {
		return nil, err
	}
	if len(c.IdempotencyKey) > 256 {
		return nil, invalid("idempotency_key", "longer than 256 characters")
	}
	if err := ValidateSubject(c.Subject); err != nil {
		return nil, err
	}
	if c.IdempotencyKey != "" && c.MessageID != MessageIDForKey(c.ApplicationID, c.IdempotencyKey) {
		return nil, invalid("id", "a message with an idempotency key must use the derived id")
	}
	max := c.MaxPayload
	if max <= 0 {
		max = DefaultMaxPayload
	}
	if len(c.Payload) > max {
		// The same answer as a request body over the HTTP limit: one code
		// for "too large", whichever layer noticed.
		return nil, fmt.Errorf("%w: the payload is %d bytes; the limit is %d", ErrEventTooLarge, len(c.Payload), max)
	}
	var compact bytes.Buffer
	compact.Grow(len(c.Payload)) // compacting never lengthens it
	if err := json.Compact(&compact, c.Payload); err != nil || len(c.Payload) == 0 {
		return nil, invalid("payload", "must be valid JSON")
	}
	payload := compact.Bytes()
	hash := PayloadHash(payload)
	if s.Exists {
		if s.ApplicationID == c.ApplicationID && s.PayloadHash == hash && s.EventType == c.EventType && s.Subject == c.Subject {
			return nil, nil
		}
		return nil, &IdempotencyConflictError{Key: c.IdempotencyKey, MessageID: s.MessageID}
	}
	return []Event{MessagePublished{
		MessageID: c.MessageID, ApplicationID: c.ApplicationID, EventType: c.EventType,
		Payload: payload, PayloadHash: hash, Subject: c.Subject, IdempotencyKey: c.IdempotencyKey, PublishedAt: now.UTC(),
	}}, nil
}

// EvolveMessage applies one event of the message's stream.
func EvolveMessage(s Message, ev Event) Message {
	if e, ok := ev.(MessagePublished); ok {
		return Message{MessagePublished: e, Exists: true}
	}
	return s
}
