package domain

import (
	"crypto/sha256"
	"time"
)

// SubscriptionStatus is where a subscription stands.
type SubscriptionStatus string

const (
	StatusActive   SubscriptionStatus = "active"
	StatusPaused   SubscriptionStatus = "paused"
	StatusDisabled SubscriptionStatus = "disabled"
	StatusDeleted  SubscriptionStatus = "deleted"
)

// Disable reasons (stable strings: they are stored).
const (
	DisabledByOperator = "operator"
	DisabledGone       = "gone"    // the endpoint answered 410 Gone
	DisabledFailing    = "failing" // every attempt failed for the failure window
)

// SigningKey is one of a subscription's secrets. ExpiresAt is zero for the
// current key and set for a rotated-out key during its grace period.
type SigningKey struct {
	KeyID     string    `json:"key_id"`
	Secret    string    `json:"secret"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// SubscriptionCreated: an endpoint was registered.
type SubscriptionCreated struct {
	SubscriptionID string            `json:"subscription_id"`
	ApplicationID  string            `json:"application_id"`
	URL            string            `json:"url"`
	EventTypes     Filters           `json:"event_types"`
	Description    string            `json:"description,omitempty"`
	Headers        map[string]string `json:"headers,omitempty"`
	// HeadersSealed holds Headers instead when the ledger encrypts
	// (SealSubscriptionHeaders): their values may carry personal data.
	HeadersSealed   *SealedValue `json:"headers_sealed,omitempty"`
	SecretHeaders   []string     `json:"secret_headers,omitempty"`
	RetryScheduleMS []int64      `json:"retry_schedule_ms,omitempty"`
	RateLimit       *RateLimit   `json:"rate_limit,omitempty"`
	Ordering        string       `json:"ordering,omitempty"`
	// ClientCert is presented to endpoints requiring mutual TLS.
	ClientCert *ClientCertificate `json:"client_certificate,omitempty"`
	Key        SigningKey         `json:"key"`
	CreatedAt  time.Time          `json:"created_at"`
}

// SubscriptionUpdated: the endpoint's settings changed. It carries the full
// new values of every mutable setting, so one event says the whole truth.
type SubscriptionUpdated struct {
	SubscriptionID  string            `json:"subscription_id"`
	URL             string            `json:"url"`
	EventTypes      Filters           `json:"event_types"`
	Description     string            `json:"description,omitempty"`
	Headers         map[string]string `json:"headers,omitempty"`
	HeadersSealed   *SealedValue      `json:"headers_sealed,omitempty"`
	SecretHeaders   []string          `json:"secret_headers,omitempty"`
	RetryScheduleMS []int64           `json:"retry_schedule_ms,omitempty"`
	RateLimit       *RateLimit        `json:"rate_limit,omitempty"`
	Ordering        string            `json:"ordering,omitempty"`
	// ClientCert is the full new value: absent means none.
	ClientCert *ClientCertificate `json:"client_certificate,omitempty"`
	UpdatedAt  time.Time          `json:"updated_at"`
}

// SubscriptionPaused: deliveries stop being attempted until resumed.
type SubscriptionPaused struct {
	SubscriptionID string    `json:"subscription_id"`
	Reason         string    `json:"reason,omitempty"`
	PausedAt       time.Time `json:"paused_at"`
}

// SubscriptionResumed: a paused or disabled subscription is active again.
type SubscriptionResumed struct {
	SubscriptionID string    `json:"subscription_id"`
	Reason         string    `json:"reason,omitempty"`
	ResumedAt      time.Time `json:"resumed_at"`
}

// SubscriptionSecretRotated: a new signing key is current; the previous one
// stays valid until PreviousExpiresAt.
type SubscriptionSecretRotated struct {
	SubscriptionID    string     `json:"subscription_id"`
	Key               SigningKey `json:"key"`
	PreviousKeyID     string     `json:"previous_key_id"`
	PreviousExpiresAt time.Time  `json:"previous_expires_at"`
}

// SubscriptionDisabled: no new deliveries are scheduled and none attempted.
type SubscriptionDisabled struct {
	SubscriptionID string    `json:"subscription_id"`
	Reason         string    `json:"reason"`
	Detail         string    `json:"detail,omitempty"`
	DisabledAt     time.Time `json:"disabled_at"`
}

// SubscriptionReplayRequested: someone asked to deliver, now, the messages
// published between Since and Until that matched the subscription when they
// were published but were never scheduled to it (it was disabled then). Each
// delivery it schedules names this event's position (ReplayPosition).
type SubscriptionReplayRequested struct {
	SubscriptionID string    `json:"subscription_id"`
	Since          time.Time `json:"since"`
	Until          time.Time `json:"until"`
	Reason         string    `json:"reason,omitempty"`
	RequestedAt    time.Time `json:"requested_at"`
}

// SubscriptionDeleted: the endpoint is gone for good; its history stays.
type SubscriptionDeleted struct {
	SubscriptionID string    `json:"subscription_id"`
	Reason         string    `json:"reason,omitempty"`
	DeletedAt      time.Time `json:"deleted_at"`
}

func (SubscriptionCreated) Type() string       { return TypeSubscriptionCreated }
func (SubscriptionUpdated) Type() string       { return TypeSubscriptionUpdated }
func (SubscriptionPaused) Type() string        { return TypeSubscriptionPaused }
func (SubscriptionResumed) Type() string       { return TypeSubscriptionResumed }
func (SubscriptionSecretRotated) Type() string { return TypeSubscriptionSecretRotated }
func (SubscriptionDisabled) Type() string      { return TypeSubscriptionDisabled }
func (SubscriptionDeleted) Type() string       { return TypeSubscriptionDeleted }
func (SubscriptionReplayRequested) Type() string {
	return TypeSubscriptionReplay
}

// SubscriptionEvent is an event of one subscription's stream; which one is
// a method of each (see DeliveryEvent).
type SubscriptionEvent interface {
	Event
	OfSubscription() string // the subscription's id
}

func (e SubscriptionCreated) OfSubscription() string         { return e.SubscriptionID }
func (e SubscriptionUpdated) OfSubscription() string         { return e.SubscriptionID }
func (e SubscriptionPaused) OfSubscription() string          { return e.SubscriptionID }
func (e SubscriptionResumed) OfSubscription() string         { return e.SubscriptionID }
func (e SubscriptionSecretRotated) OfSubscription() string   { return e.SubscriptionID }
func (e SubscriptionDisabled) OfSubscription() string        { return e.SubscriptionID }
func (e SubscriptionDeleted) OfSubscription() string         { return e.SubscriptionID }
func (e SubscriptionReplayRequested) OfSubscription() string { return e.SubscriptionID }

// Subscription is the state of one endpoint, folded from its stream.
type Subscription struct {
	ID            string
	ApplicationID string
	URL           string
	EventTypes    Filters
	Description   string
	Headers       map[string]string
	// HeadersSealed: the headers as the ledger holds them, encrypted
	// (OpenSubscriptionHeaders turns them back into Headers).
	HeadersSealed   *SealedValue `json:",omitempty"`
	SecretHeaders   []string
	RetryScheduleMS []int64
	RateLimit       *RateLimit         `json:",omitempty"`
	Ordering        string             `json:",omitempty"`
	ClientCert      *ClientCertificate `json:",omitempty"`
	Keys            []SigningKey
	Status          SubscriptionStatus
	DisabledReason  string
	DisabledDetail  string `json:",omitempty"`
	// PausedReason is the operator's reason for the pause in force.
	PausedReason string `json:",omitempty"`
	CreatedAt    time.Time
	// Version counts the events folded; the stream revision is Version-1.
	Version uint64
}

// Exists reports whether the subscription was ever created.
func (s Subscription) Exists() bool { return s.Version > 0 }

// Revision is the stream revision of the last event folded.
func (s Subscription) Revision() uint64 { return s.Version - 1 }

// ValidKeys returns the keys that sign at time t: the current one and every
// rotated-out key still in its grace period.
func (s Subscription) ValidKeys(t time.Time) []SigningKey {
	out := make([]SigningKey, 0, len(s.Keys))
	for _, k := range s.Keys {
		if k.ExpiresAt.IsZero() || t.Before(k.ExpiresAt) {
			out = append(out, k)
		}
	}
	return out
}

// CurrentKeyID is the id of the key that is not being rotated out.
func (s Subscription) CurrentKeyID() string {
	for _, k := range s.Keys {
		if k.ExpiresAt.IsZero() {
			return k.KeyID
		}
	}
	return ""
}

// CreateSubscription registers an endpoint. Secret is a whsec_ secret drawn by
// the caller (generated when the user gave none).
type CreateSubscription struct {
	SubscriptionID  string
	ApplicationID   string
	URL             string
	EventTypes      Filters
	Description     string
	Headers         map[string]string
	SecretHeaders   []string // header names whose values are credentials (redacted when shown)
	RetryScheduleMS []int64
	RateLimit       *RateLimit         // nil: no limit
	Ordering        string             // OrderingFIFO, or "" (concurrent)
	Auth            *EndpointAuth      // nil: none; recorded as the Authorization header
	ClientCert      *ClientCertificate // nil: none (mutual TLS not used)
	Secret          string
}

// UpdateSubscription changes the settings given (nil = unchanged).
type UpdateSubscription struct {
	URL             *string
	EventTypes      Filters // nil = unchanged
	Description     *string
	Headers         map[string]string  // nil = unchanged; empty = remove all
	SecretHeaders   []string           // nil = unchanged
	RetryScheduleMS []int64            // nil = unchanged
	RateLimit       *RateLimit         // nil = unchanged; PerSecond 0 = remove the limit
	Ordering        *string            // nil = unchanged
	Auth            *EndpointAuth      // nil = unchanged; Type none removes the credential
	ClientCert      *ClientCertificate // nil = unchanged; empty (no PEM) removes it
}

// Delivery orderings of a subscription.
const (
	OrderingConcurrent = "concurrent" // the default: deliveries go out in parallel
	OrderingFIFO       = "fifo"       // one at a time, in publish order; a failing one holds those behind it
)

// ValidateOrdering checks an ordering ("" is the default, concurrent).
func ValidateOrdering(o string) error {
	switch o {
	case "", OrderingConcurrent, OrderingFIFO:
		return nil
	}
	return invalid("ordering", `must be "concurrent" or "fifo"`)
}

// normalOrdering stores the default as "".
func normalOrdering(o string) string {
	if o == OrderingConcurrent {
		return ""
	}
	return o
}

// RateLimit bounds a subscription's attempts: a token bucket of Burst tokens
// refilled at PerSecond. Deliveries beyond it wait, pending.
type RateLimit struct {
	PerSecond float64 `json:"per_second"`
	Burst     int     `json:"burst"`
}

// ValidateRateLimit checks a rate limit (a zero PerSecond removes it).
func ValidateRateLimit(r *RateLimit) error {
	if r == nil || r.PerSecond == 0 {
		return nil
	}
	if r.PerSecond < 0.01 || r.PerSecond > 100_000 {
		return invalid("rate_limit", "per_second must be from 0.01 to 100000 (or 0 for no limit)")
	}
	if r.Burst < 1 || r.Burst > 100_000 {
		return invalid("rate_limit", "burst must be from 1 to 100000")
	}
	return nil
}

// PauseSubscription and ResumeSubscription change the status; the ledger
// keeps the operator's reason with the change when one is given (at most
// MaxReasonLength bytes).
type (
	PauseSubscription  struct{ Reason string }
	ResumeSubscription struct{ Reason string }
)

// DeleteSubscription ends the subscription for good; its history stays.
// The ledger keeps the operator's reason with it when one is given.
type DeleteSubscription struct{ Reason string }

// DisableSubscription stops an endpoint with a reason (DisabledByOperator,
// DisabledGone, DisabledFailing).
type DisableSubscription struct {
	Reason string
	Detail string
}

// RequestReplay records a replay of [Since, Until] (see
// SubscriptionReplayRequested).
type RequestReplay struct {
	Since, Until time.Time
	Reason       string
}

// MaxReasonLength bounds the free-text reasons of operator commands.
const MaxReasonLength = 512

// RotateSecret makes NewSecret current; the old key stays valid for Grace.
type RotateSecret struct {
	NewSecret string
	Grace     time.Duration
}

// MaxRotationGrace bounds how long a rotated-out key keeps signing.
const MaxRotationGrace = 7 * 24 * time.Hour

// KeyIDForSecret derives a signing key's public id from its secret: stable,
// and useless for guessing the secret (a truncated SHA-256 of 24+ random bytes).
func KeyIDForSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return "whk_" + idEncoding.EncodeToString(h[:8])
}

func cloneHeaders(h map[string]string) map[string]string {
	if len(h) == 0 {
		return nil
	}
	out := make(map[string]string, len(h))
	for k, v := range h {
		out[k] = v
	}
	return out
}

// EvolveSubscription applies one event of the subscription's stream.
func EvolveSubscription(s Subscription, ev Event) Subscription {
	switch e := ev.(type) {
	case SubscriptionCreated:
		s = Subscription{
			ID: e.SubscriptionID, ApplicationID: e.ApplicationID, URL: e.URL, EventTypes: e.EventTypes,
			Description: e.Description, Headers: e.Headers, HeadersSealed: e.HeadersSealed, SecretHeaders: e.SecretHeaders, RetryScheduleMS: e.RetryScheduleMS, RateLimit: e.RateLimit, Ordering: e.Ordering, ClientCert: e.ClientCert,
			Keys: []SigningKey{e.Key}, Status: StatusActive, CreatedAt: e.CreatedAt,
		}
	case SubscriptionUpdated:
		s.URL, s.EventTypes, s.Description = e.URL, e.EventTypes, e.Description
		s.Headers, s.HeadersSealed, s.SecretHeaders, s.RetryScheduleMS, s.RateLimit, s.Ordering = e.Headers, e.HeadersSealed, e.SecretHeaders, e.RetryScheduleMS, e.RateLimit, e.Ordering
		s.ClientCert = e.ClientCert
	case SubscriptionPaused:
		s.Status, s.PausedReason = StatusPaused, e.Reason
	case SubscriptionResumed:
		s.Status, s.DisabledReason, s.DisabledDetail, s.PausedReason = StatusActive, "", "", ""
	case SubscriptionDisabled:
		s.Status, s.DisabledReason, s.DisabledDetail, s.PausedReason = StatusDisabled, e.Reason, e.Detail, ""
	case SubscriptionDeleted:
		s.Status, s.PausedReason = StatusDeleted, ""
	case SubscriptionReplayRequested:
		// A record of a request: the deliveries it schedules carry the change.
	case SubscriptionSecretRotated:
		rotatedAt := e.Key.CreatedAt
		keys := make([]SigningKey, 0, len(s.Keys)+1)
		for _, k := range s.Keys {
			if k.KeyID == e.PreviousKeyID && k.ExpiresAt.IsZero() {
				k.ExpiresAt = e.PreviousExpiresAt
			}
			// Keys whose grace ended before this rotation can never sign again.
			if k.ExpiresAt.IsZero() || k.ExpiresAt.After(rotatedAt) {
				keys = append(keys, k)
			}
		}
		s.Keys = append(keys, e.Key)
	default:
		return s
	}
	s.Version++
	return s
}
