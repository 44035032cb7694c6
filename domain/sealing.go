package domain

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Crypto-shredding. A payload is written to the ledger encrypted under a data
// key that lives outside the ledger (a key store). Destroying the key makes
// the payload unreadable for ever, while the ledger, its hash chain and its
// seals stay exactly as they were: they cover the ciphertext.

// SealedValue is a value encrypted at rest: AES-256-GCM under the data key
// KeyID, with the owning message's id as additional data (a ciphertext moved
// to another message does not open).
type SealedValue struct {
	Alg        string `json:"alg"` // "A256GCM"
	KeyID      string `json:"key_id"`
	Nonce      []byte `json:"nonce"`
	Ciphertext []byte `json:"ciphertext"`
}

// SealAlgorithm is the only algorithm written today.
const SealAlgorithm = "A256GCM"

// PayloadCipher encrypts and decrypts values at rest under destroyable data
// keys. The key store adapter implements it.
type PayloadCipher interface {
	// Seal encrypts plaintext under the data key keyID (created if new),
	// binding it to aad.
	Seal(ctx context.Context, keyID, aad string, plaintext []byte) (*SealedValue, error)
	// Open decrypts v. A destroyed key answers an *ErasedError.
	Open(ctx context.Context, aad string, v *SealedValue) ([]byte, error)
}

// ErrErased: the value was encrypted under a data key that has been destroyed.
var ErrErased = errors.New("erased")

// ErasedError says which erasure destroyed the key of a value.
type ErasedError struct {
	KeyID     string
	ErasureID string
	ErasedAt  time.Time
}

func (e *ErasedError) Error() string {
	return fmt.Sprintf("erased by %s (data key %s destroyed)", e.ErasureID, e.KeyID)
}

// Is makes an *ErasedError match ErrErased.
func (e *ErasedError) Is(target error) bool { return target == ErrErased }

// ErasureScope chooses which messages share a data key, and so what can be
// erased on its own: an application's messages of one day (the default), a
// subject's messages of one day, or each message alone.
type ErasureScope string

const (
	ScopeApplication ErasureScope = "application"
	ScopeSubject     ErasureScope = "subject"
	ScopeMessage     ErasureScope = "message"
)

// ParseErasureScope reads --erasure-scope.
func ParseErasureScope(s string) (ErasureScope, error) {
	switch ErasureScope(s) {
	case ScopeApplication, ScopeSubject, ScopeMessage:
		return ErasureScope(s), nil
	}
	return "", invalid("erasure_scope", "want application, subject or message, not %q", s)
}

// DataKeyID names the data key a message's payload is sealed under. Every key
// names its application and the UTC day of publication, so "the
// application", "published before a day" and a retention period are sets of
// keys whatever the scope:
//
//	<app>/d/<yyyymmdd>              scope application (and subject, for messages with none)
//	<app>/s/<subject hash>/<yyyymmdd> scope subject
//	<app>/m/<yyyymmdd>/<message>    scope message
//
// The subject is hashed (it may hold any character); it is in the message's
// event in full.
func DataKeyID(scope ErasureScope, app, subject, messageID string, publishedAt time.Time) string {
	day := publishedAt.UTC().Format("20060102")
	switch {
	case scope == ScopeMessage:
		return app + "/m/" + day + "/" + messageID
	case scope == ScopeSubject && subject != "":
		return app + "/s/" + SubjectHash(subject) + "/" + day
	default:
		return app + "/d/" + day
	}
}

// SubjectHash is the short hex digest of a subject used in key ids.
func SubjectHash(subject string) string {
	h := sha256.Sum256([]byte(subject))
	return hex.EncodeToString(h[:16])
}

// DataKey is a data key id read back into its parts.
type DataKey struct {
	Application string
	Kind        byte // 'd', 's' or 'm'
	Subject     string
	Message     string
	Day         time.Time
}

// ParseDataKeyID reads a key id DataKeyID wrote, with or without the
// generation a key store adds ("#2").
func ParseDataKeyID(id string) (DataKey, bool) {
	id, _, _ = strings.Cut(id, "#")
	parts := strings.Split(id, "/")
	if len(parts) < 3 || len(parts[1]) != 1 {
		return DataKey{}, false
	}
	k := DataKey{Application: parts[0], Kind: parts[1][0]}
	var day string
	switch {
	case k.Kind == 'd' && len(parts) == 3:
		day = parts[2]
	case k.Kind == 's' && len(parts) == 4:
		k.Subject, day = parts[2], parts[3]
	case k.Kind == 'm' && len(parts) == 4:
		day, k.Message = parts[2], parts[3]
	default:
		return DataKey{}, false
	}
	t, err := time.Parse("20060102", day)
	if err != nil {
		return DataKey{}, false
	}
	k.Day = t
	return k, true
}

// MessageAAD is the additional data that binds a message's sealed values
// (payload, response excerpts) to the message.
func MessageAAD(messageID string) string { return "message:" + messageID }

// OpenPayload answers a message's payload: as written, or decrypted. A
// destroyed key answers an *ErasedError; a sealed payload and no cipher, an
// error saying so.
func OpenPayload(ctx context.Context, c PayloadCipher, m MessagePublished) ([]byte, error) {
	if m.Sealed == nil {
		return m.Payload, nil
	}
	if c == nil {
		return nil, fmt.Errorf("message %s is encrypted and no key store is configured", m.MessageID)
	}
	return c.Open(ctx, MessageAAD(m.MessageID), m.Sealed)
}

// ConfigKeyID names the data key of an application's settings that may carry
// personal data (subscriptions' custom header values). It holds no day: an
// erasure by time leaves it, an erasure of the application destroys it.
func ConfigKeyID(app string) string { return app + "/c" }

// HeadersAAD binds a subscription's sealed headers to the subscription.
func HeadersAAD(subscriptionID string) string { return "headers:" + subscriptionID }

// SealSubscriptionHeaders encrypts the header values of a subscription
// event under its application's settings key (other events pass as they
// are).
func SealSubscriptionHeaders(ctx context.Context, c PayloadCipher, app string, ev Event) (Event, error) {
	seal := func(id string, h *map[string]string, into **SealedValue) error {
		if len(*h) == 0 {
			return nil
		}
		b, err := json.Marshal(*h)
		if err != nil {
			return err
		}
		v, err := c.Seal(ctx, ConfigKeyID(app), HeadersAAD(id), b)
		if err != nil {
			return err
		}
		*h, *into = nil, v
		return nil
	}
	switch e := ev.(type) {
	case SubscriptionCreated:
		err := seal(e.SubscriptionID, &e.Headers, &e.HeadersSealed)
		return e, err
	case SubscriptionUpdated:
		err := seal(e.SubscriptionID, &e.Headers, &e.HeadersSealed)
		return e, err
	}
	return ev, nil
}

// OpenSubscriptionHeaders answers s with its headers decrypted. Headers
// erased with their application come back empty, with the *ErasedError.
func OpenSubscriptionHeaders(ctx context.Context, c PayloadCipher, s Subscription) (Subscription, error) {
	if s.HeadersSealed == nil {
		return s, nil
	}
	v := s.HeadersSealed
	s.HeadersSealed, s.Headers = nil, nil
	if c == nil {
		return s, fmt.Errorf("subscription %s's headers are encrypted and no key store is configured", s.ID)
	}
	b, err := c.Open(ctx, HeadersAAD(s.ID), v)
	if err != nil {
		return s, err
	}
	var h map[string]string
	if err := json.Unmarshal(b, &h); err != nil {
		return s, fmt.Errorf("%w: subscription %s's headers: %v", ErrCorrupt, s.ID, err)
	}
	s.Headers = h
	return s, nil
}

// SealedKeyOf names the data key of a value ev holds sealed (a message's
// payload, a subscription's header values, an attempt's response excerpt),
// or "" when it holds none: what cannot be read without the key store the
// ledger was written with.
func SealedKeyOf(ev Event) string {
	var v *SealedValue
	switch e := ev.(type) {
	case MessagePublished:
		v = e.Sealed
	case SubscriptionCreated:
		v = e.HeadersSealed
	case SubscriptionUpdated:
		v = e.HeadersSealed
	case AttemptAcknowledged:
		v = e.ResponseExcerptSealed
	case AttemptFailed:
		v = e.ResponseExcerptSealed
	}
	if v == nil {
		return ""
	}
	return v.KeyID
}
