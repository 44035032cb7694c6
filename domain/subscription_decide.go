package domain

// Deciding a subscription's commands: one function per command, each
// returning the events the command produces or why it cannot.

import (
	"reflect"
	"time"
)

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
	switch c := cmd.(type) {
	case UpdateSubscription:
		return decideUpdateSubscription(s, c, now)
	case PauseSubscription:
		if len(c.Reason) > MaxReasonLength {
			return nil, invalid("reason", "longer than %d characters", MaxReasonLength)
		}
		switch s.Status {
		case StatusPaused:
			return nil, nil
		case StatusActive:
			return []Event{SubscriptionPaused{SubscriptionID: s.ID, Reason: c.Reason, PausedAt: now}}, nil
		}
		return nil, &StateError{Aggregate: "subscription", ID: s.ID, State: string(s.Status), Command: "pause"}
	case ResumeSubscription:
		if len(c.Reason) > MaxReasonLength {
			return nil, invalid("reason", "longer than %d characters", MaxReasonLength)
		}
		if s.Status == StatusActive {
			return nil, nil
		}
		return []Event{SubscriptionResumed{SubscriptionID: s.ID, Reason: c.Reason, ResumedAt: now}}, nil
	case RequestReplay:
		return decideRequestReplay(s, c, now)
	case DisableSubscription:
		return decideDisableSubscription(s, c, now)
	case RotateSecret:
		return decideRotateSecret(s, c, now)
	case DeleteSubscription:
		if len(c.Reason) > MaxReasonLength {
			return nil, invalid("reason", "longer than %d characters", MaxReasonLength)
		}
		return []Event{SubscriptionDeleted{SubscriptionID: s.ID, Reason: c.Reason, DeletedAt: now}}, nil
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
	if c.ApplicationID == SystemApplicationID {
		if err := validateOperationalFilters(c.EventTypes); err != nil {
			return nil, err
		}
	}
	if err := validateDescription(c.Description); err != nil {
		return nil, err
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

// decideUpdateSubscription records the subscription's settings whole, as
// they stand after the change: the event replaces them (EvolveSubscription),
// so a reader of one event knows the endpoint without the ones before it.
// An update that leaves every setting as it was records nothing, as a pause
// of a paused subscription does: the ledger holds changes, and a client
// sending back what it read, or repeating a PATCH, makes none.
func decideUpdateSubscription(s Subscription, c UpdateSubscription, now time.Time) ([]Event, error) {
	ev := settingsOf(s, now)
	if err := updateDelivery(&ev, c, now); err != nil {
		return nil, err
	}
	if err := updateEndpoint(&ev, c); err != nil {
		return nil, err
	}
	if c.EventTypes != nil && s.ApplicationID == SystemApplicationID {
		if err := validateOperationalFilters(c.EventTypes); err != nil {
			return nil, err
		}
	}
	if err := updateHeaders(&ev, s, c); err != nil {
		return nil, err
	}
	if c.RetryScheduleMS != nil {
		if err := ValidateRetrySchedule(c.RetryScheduleMS); err != nil {
			return nil, err
		}
		ev.RetryScheduleMS = c.RetryScheduleMS
	}
	if reflect.DeepEqual(ev, settingsOf(s, now)) {
		return nil, nil
	}
	return []Event{ev}, nil
}

// settingsOf is s's settings as an update that changes none of them would
// record them.
func settingsOf(s Subscription, now time.Time) SubscriptionUpdated {
	return SubscriptionUpdated{
		SubscriptionID: s.ID, URL: s.URL, EventTypes: s.EventTypes, Description: s.Description,
		Headers: s.Headers, SecretHeaders: s.SecretHeaders, RetryScheduleMS: s.RetryScheduleMS, RateLimit: s.RateLimit,
		Ordering: s.Ordering, ClientCert: s.ClientCert, UpdatedAt: now,
	}
}

// updateDelivery applies how the subscription's deliveries go out: its
// client certificate (an empty one removes it), ordering, rate limit (0 per
// second removes it) and the names of its secret headers.
func updateDelivery(ev *SubscriptionUpdated, c UpdateSubscription, now time.Time) error {
	if c.ClientCert != nil {
		if *c.ClientCert == (ClientCertificate{}) {
			ev.ClientCert = nil
		} else {
			if err := ValidateClientCertificate(c.ClientCert, now); err != nil {
				return err
			}
			ev.ClientCert = c.ClientCert
		}
	}
	if c.Ordering != nil {
		if err := ValidateOrdering(*c.Ordering); err != nil {
			return err
		}
		ev.Ordering = normalOrdering(*c.Ordering)
	}
	if c.RateLimit != nil {
		if err := ValidateRateLimit(c.RateLimit); err != nil {
			return err
		}
		ev.RateLimit = c.RateLimit
		if c.RateLimit.PerSecond == 0 {
			ev.RateLimit = nil
		}
	}
	if c.SecretHeaders != nil {
		if err := ValidateSecretHeaders(c.SecretHeaders); err != nil {
			return err
		}
		ev.SecretHeaders = c.SecretHeaders
		if len(ev.SecretHeaders) == 0 {
			ev.SecretHeaders = nil
		}
	}
	return nil
}

// updateEndpoint applies where the deliveries go and which: the URL, the
// event-type filters and the description.
func updateEndpoint(ev *SubscriptionUpdated, c UpdateSubscription) error {
	if c.URL != nil {
		if err := ValidateEndpointURL(*c.URL); err != nil {
			return err
		}
		ev.URL = *c.URL
	}
	if c.EventTypes != nil {
		if err := c.EventTypes.Validate(); err != nil {
			return err
		}
		ev.EventTypes = c.EventTypes
	}
	if c.Description != nil {
		if err := validateDescription(*c.Description); err != nil {
			return err
		}
		ev.Description = *c.Description
	}
	return nil
}

// updateHeaders applies the custom headers and the endpoint's credential
// (recorded as the Authorization header). It runs after updateDelivery:
// which headers are secret is the updated list's say.
func updateHeaders(ev *SubscriptionUpdated, s Subscription, c UpdateSubscription) error {
	if c.Auth != nil {
		base := c.Headers
		if base == nil {
			base = s.Headers
		}
		hs, err := withAuth(base, c.Headers, *c.Auth)
		if err != nil {
			return err
		}
		c.Headers = hs
	}
	if c.Headers == nil {
		return nil
	}
	if err := ValidateHeaders(c.Headers); err != nil {
		return err
	}
	// A secret value sent back as shown ("[redacted]") keeps the stored
	// value: a client may PATCH what it read without overwriting the
	// credential with the placeholder.
	hs := cloneHeaders(c.Headers)
	for k, v := range hs {
		if old, ok := s.Headers[k]; ok && v == RedactedValue && IsSecretHeader(k, ev.SecretHeaders) {
			hs[k] = old
		}
	}
	ev.Headers = hs
	return nil
}

// maxDescription bounds a subscription's description, in bytes.
const maxDescription = 1024

func validateDescription(d string) error {
	if len(d) > maxDescription {
		return invalid("description", "longer than %d characters", maxDescription)
	}
	return nil
}

func decideRequestReplay(s Subscription, c RequestReplay, now time.Time) ([]Event, error) {
	if c.Since.IsZero() || c.Until.Before(c.Since) {
		return nil, invalid("until", "the range must have a since, and until must not be before it")
	}
	if len(c.Reason) > MaxReasonLength {
		return nil, invalid("reason", "longer than %d characters", MaxReasonLength)
	}
	return []Event{SubscriptionReplayRequested{SubscriptionID: s.ID, Since: c.Since.UTC(), Until: c.Until.UTC(), Reason: c.Reason, RequestedAt: now}}, nil
}

func decideDisableSubscription(s Subscription, c DisableSubscription, now time.Time) ([]Event, error) {
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
}

// decideRotateSecret makes the new secret current and gives the current one
// its grace; a secret the subscription used before is refused, so a key id
// names one secret for good.
func decideRotateSecret(s Subscription, c RotateSecret, now time.Time) ([]Event, error) {
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
}
