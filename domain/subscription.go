package domain

import (
	"crypto/sha256"
	"net/http"
	"net/url"
	"strconv"
	"strings"
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
	PausedAt       time.Time `json:"paused_at"`
}

// SubscriptionResumed: a paused or disabled subscription is active again.
type SubscriptionResumed struct {
	SubscriptionID string    `json:"subscription_id"`
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
	CreatedAt       time.Time
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
		return invalid("rate_limit", "per_second must be from 0.01 to 100000")
	}
	if r.Burst < 1 || r.Burst > 100_000 {
		return invalid("rate_limit", "burst must be from 1 to 100000")
	}
	return nil
}

// PauseSubscription, ResumeSubscription, DeleteSubscription change the status.
type (
	PauseSubscription  struct{}
	ResumeSubscription struct{}
	DeleteSubscription struct{}
)

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

// ValidateEndpointURL accepts absolute http(s) URLs with a host, no user
// credentials and no fragment, up to 2048 characters. Whether the host is an
// allowed target is checked by the sender's network guard, not here.
func ValidateEndpointURL(raw string) error {
	if raw == "" {
		return invalid("url", "a URL is required")
	}
	if len(raw) > 2048 {
		return invalid("url", "longer than 2048 characters")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return invalid("url", "not a URL: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return invalid("url", "must be an absolute http or https URL")
	}
	if u.Host == "" || u.Hostname() == "" {
		return invalid("url", "must have a host")
	}
	if u.User != nil {
		return invalid("url", "credentials in the URL are not allowed: send them as a header (e.g. Authorization), which is stored redacted")
	}
	if nonCanonicalIPv4(u.Hostname()) {
		return invalid("url", "the host %q is an IPv4 address in a non-standard form (decimal, octal, hex or shortened): write it as a.b.c.d", u.Hostname())
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return invalid("url", "a fragment is not allowed")
	}
	return nil
}

// nonCanonicalIPv4 reports whether host is a number, or dotted numbers, that
// some resolvers (inet_aton) read as an IPv4 address although it is not the
// dotted-decimal form: 2130706433, 0x7f000001, 017700000001, 127.1,
// 0127.0.0.1. Such hosts hide an address from checks that parse a.b.c.d,
// so they are refused outright.
func nonCanonicalIPv4(host string) bool {
	if host == "" || strings.Contains(host, ":") {
		return false
	}
	parts := strings.Split(strings.TrimSuffix(host, "."), ".")
	canonical := len(parts) == 4
	for _, p := range parts {
		lp := strings.ToLower(p)
		switch {
		case p == "":
			return false
		case strings.HasPrefix(lp, "0x"):
			if strings.Trim(lp[2:], "0123456789abcdef") != "" {
				return false
			}
			canonical = false
		case strings.Trim(p, "0123456789") == "":
			if (len(p) > 1 && p[0] == '0') || len(p) > 3 {
				canonical = false
			} else if n, _ := strconv.Atoi(p); n > 255 {
				canonical = false
			}
		default:
			return false // a name
		}
	}
	return !canonical
}

// reservedHeaders are set by the sender and cannot be overridden.
var reservedHeaders = map[string]bool{
	"Content-Type": true, "Content-Length": true, "Host": true, "Connection": true,
	"Transfer-Encoding": true, "Webhook-Id": true, "Webhook-Timestamp": true,
	"Webhook-Signature": true, "User-Agent": true, "Te": true, "Upgrade": true,
}

// ValidateHeaders checks a subscription's custom headers.
func ValidateHeaders(h map[string]string) error {
	if len(h) > 32 {
		return invalid("headers", "at most 32 custom headers")
	}
	for k, v := range h {
		if k == "" || len(k) > 128 {
			return invalid("headers", "header names must be 1-128 characters")
		}
		for i := 0; i < len(k); i++ {
			c := k[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
				return invalid("headers", "header name %q is not a valid token", k)
			}
		}
		if reservedHeaders[http.CanonicalHeaderKey(k)] {
			return invalid("headers", "header %q is set by hookledger and cannot be overridden", k)
		}
		if len(v) > 4096 || strings.ContainsAny(v, "\r\n\x00") {
			return invalid("headers", "header %q: values must be at most 4096 characters with no line breaks", k)
		}
	}
	return nil
}

// ValidateRetrySchedule checks a per-subscription schedule: 1 to 20 delays in
// milliseconds, each at most 7 days. Element 0 is the delay before the first
// attempt (usually 0), element k the delay after the k-th failed attempt; the
// length is the number of attempts (RetryPolicy).
func ValidateRetrySchedule(ms []int64) error {
	if ms == nil {
		return nil
	}
	if len(ms) == 0 || len(ms) > 20 {
		return invalid("retry_schedule", "between 1 and 20 delays")
	}
	for _, d := range ms {
		if d < 0 || d > int64(7*24*time.Hour/time.Millisecond) {
			return invalid("retry_schedule", "each delay must be between 0 and 7 days")
		}
	}
	return nil
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

// DecideSubscription returns the events a command produces, or why it cannot.
// A command that changes nothing (pausing a paused subscription) returns no
// events and no error.
func DecideSubscription(s Subscription, cmd any, now time.Time) ([]Event, error) {
	now = now.UTC()
	if c, ok := cmd.(CreateSubscription); ok {
		if s.Exists() {
			return nil, ErrAlreadyExists
		}
		return decideCreateSubscription(c, now)
	}
	if !s.Exists() || s.Status == StatusDeleted {
		return nil, ErrNotFound
	}
	stateErr := func(command string) error {
		return &StateError{Aggregate: "subscription", ID: s.ID, State: string(s.Status), Command: command}
	}
	switch c := cmd.(type) {
	case UpdateSubscription:
		ev := SubscriptionUpdated{
			SubscriptionID: s.ID, URL: s.URL, EventTypes: s.EventTypes, Description: s.Description,
			Headers: s.Headers, SecretHeaders: s.SecretHeaders, RetryScheduleMS: s.RetryScheduleMS, RateLimit: s.RateLimit,
			Ordering: s.Ordering, ClientCert: s.ClientCert, UpdatedAt: now,
		}
		if c.ClientCert != nil {
			if *c.ClientCert == (ClientCertificate{}) {
				ev.ClientCert = nil
			} else {
				if err := ValidateClientCertificate(c.ClientCert, now); err != nil {
					return nil, err
				}
				ev.ClientCert = c.ClientCert
			}
		}
		if c.Ordering != nil {
			if err := ValidateOrdering(*c.Ordering); err != nil {
				return nil, err
			}
			ev.Ordering = normalOrdering(*c.Ordering)
		}
		if c.RateLimit != nil {
			if err := ValidateRateLimit(c.RateLimit); err != nil {
				return nil, err
			}
			ev.RateLimit = c.RateLimit
			if c.RateLimit.PerSecond == 0 {
				ev.RateLimit = nil
			}
		}
		if c.SecretHeaders != nil {
			if err := ValidateSecretHeaders(c.SecretHeaders); err != nil {
				return nil, err
			}
			ev.SecretHeaders = c.SecretHeaders
			if len(ev.SecretHeaders) == 0 {
				ev.SecretHeaders = nil
			}
		}
		if c.URL != nil {
			if err := ValidateEndpointURL(*c.URL); err != nil {
				return nil, err
			}
			ev.URL = *c.URL
		}
		if c.EventTypes != nil {
			if err := c.EventTypes.Validate(); err != nil {
				return nil, err
			}
			ev.EventTypes = c.EventTypes
		}
		if c.Description != nil {
			if len(*c.Description) > 1024 {
				return nil, invalid("description", "longer than 1024 characters")
			}
			ev.Description = *c.Description
		}
		if c.Auth != nil {
			base := c.Headers
			if base == nil {
				base = s.Headers
			}
			hs, err := withAuth(base, c.Headers, *c.Auth)
			if err != nil {
				return nil, err
			}
			c.Headers = hs
		}
		if c.Headers != nil {
			if err := ValidateHeaders(c.Headers); err != nil {
				return nil, err
			}
			// A secret value sent back as shown ("[redacted]") keeps the
			// stored value: a client may PATCH what it read without
			// overwriting the credential with the placeholder.
			hs := cloneHeaders(c.Headers)
			for k, v := range hs {
				if old, ok := s.Headers[k]; ok && v == RedactedValue && IsSecretHeader(k, ev.SecretHeaders) {
					hs[k] = old
				}
			}
			ev.Headers = hs
		}
		if c.RetryScheduleMS != nil {
			if err := ValidateRetrySchedule(c.RetryScheduleMS); err != nil {
				return nil, err
			}
			ev.RetryScheduleMS = c.RetryScheduleMS
		}
		return []Event{ev}, nil
	case PauseSubscription:
		switch s.Status {
		case StatusPaused:
			return nil, nil
		case StatusActive:
			return []Event{SubscriptionPaused{SubscriptionID: s.ID, PausedAt: now}}, nil
		}
		return nil, stateErr("pause")
	case ResumeSubscription:
		if s.Status == StatusActive {
			return nil, nil
		}
		return []Event{SubscriptionResumed{SubscriptionID: s.ID, ResumedAt: now}}, nil
	case RequestReplay:
		if c.Since.IsZero() || c.Until.Before(c.Since) {
			return nil, invalid("until", "the range must have a since, and until must not be before it")
		}
		if len(c.Reason) > MaxReasonLength {
			return nil, invalid("reason", "longer than %d characters", MaxReasonLength)
		}
		return []Event{SubscriptionReplayRequested{SubscriptionID: s.ID, Since: c.Since.UTC(), Until: c.Until.UTC(), Reason: c.Reason, RequestedAt: now}}, nil
	case DisableSubscription:
		if len(c.Detail) > MaxReasonLength {
			return nil, invalid("reason", "longer than %d characters", MaxReasonLength)
		}
		switch c.Reason {
		case DisabledByOperator, DisabledGone, DisabledFailing:
		default:
			return nil, invalid("reason", "unknown disable reason %q", c.Reason)
		}
		if s.Status == StatusDisabled {
			return nil, nil
		}
		return []Event{SubscriptionDisabled{SubscriptionID: s.ID, Reason: c.Reason, Detail: c.Detail, DisabledAt: now}}, nil
	case RotateSecret:
		if err := ValidateSecret(c.NewSecret); err != nil {
			return nil, err
		}
		if c.Grace < 0 || c.Grace > MaxRotationGrace {
			return nil, invalid("grace", "must be between 0 and %s", MaxRotationGrace)
		}
		newID := KeyIDForSecret(c.NewSecret)
		for _, k := range s.Keys {
			if k.KeyID == newID {
				return nil, invalid("secret", "this secret was already used by the subscription")
			}
		}
		return []Event{SubscriptionSecretRotated{
			SubscriptionID:    s.ID,
			Key:               SigningKey{KeyID: newID, Secret: c.NewSecret, CreatedAt: now},
			PreviousKeyID:     s.CurrentKeyID(),
			PreviousExpiresAt: now.Add(c.Grace),
		}}, nil
	case DeleteSubscription:
		return []Event{SubscriptionDeleted{SubscriptionID: s.ID, DeletedAt: now}}, nil
	}
	return nil, invalid("command", "unknown subscription command %T", cmd)
}

func decideCreateSubscription(c CreateSubscription, now time.Time) ([]Event, error) {
	if err := ValidateID("id", c.SubscriptionID); err != nil {
		return nil, err
	}
	if err := ValidateID("application_id", c.ApplicationID); err != nil {
		return nil, err
	}
	if err := ValidateEndpointURL(c.URL); err != nil {
		return nil, err
	}
	if err := c.EventTypes.Validate(); err != nil {
		return nil, err
	}
	if len(c.Description) > 1024 {
		return nil, invalid("description", "longer than 1024 characters")
	}
	if c.Auth != nil {
		if c.Auth.Type == AuthNone {
			return nil, invalid("auth.type", "must be %q or %q", AuthBasic, AuthBearer)
		}
		hs, err := withAuth(c.Headers, c.Headers, *c.Auth)
		if err != nil {
			return nil, err
		}
		c.Headers = hs
	}
	if err := ValidateHeaders(c.Headers); err != nil {
		return nil, err
	}
	if err := ValidateRetrySchedule(c.RetryScheduleMS); err != nil {
		return nil, err
	}
	if err := ValidateSecretHeaders(c.SecretHeaders); err != nil {
		return nil, err
	}
	if err := ValidateRateLimit(c.RateLimit); err != nil {
		return nil, err
	}
	if err := ValidateOrdering(c.Ordering); err != nil {
		return nil, err
	}
	if c.RateLimit != nil && c.RateLimit.PerSecond == 0 {
		c.RateLimit = nil
	}
	if err := ValidateSecret(c.Secret); err != nil {
		return nil, err
	}
	if c.ClientCert != nil {
		if err := ValidateClientCertificate(c.ClientCert, now); err != nil {
			return nil, err
		}
	}
	return []Event{SubscriptionCreated{ClientCert: c.ClientCert,
		SubscriptionID: c.SubscriptionID, ApplicationID: c.ApplicationID, URL: c.URL,
		EventTypes: c.EventTypes, Description: c.Description, Headers: cloneHeaders(c.Headers),
		SecretHeaders: c.SecretHeaders, RetryScheduleMS: c.RetryScheduleMS, RateLimit: c.RateLimit, Ordering: normalOrdering(c.Ordering),
		Key:       SigningKey{KeyID: KeyIDForSecret(c.Secret), Secret: c.Secret, CreatedAt: now},
		CreatedAt: now,
	}}, nil
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
		s.Status = StatusPaused
	case SubscriptionResumed:
		s.Status, s.DisabledReason, s.DisabledDetail = StatusActive, "", ""
	case SubscriptionDisabled:
		s.Status, s.DisabledReason, s.DisabledDetail = StatusDisabled, e.Reason, e.Detail
	case SubscriptionDeleted:
		s.Status = StatusDeleted
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
